"""An annotated graph as one Relax IRModule: packed TIR kernels for the low-bit
GEMMs, Relax ops for the rest (DESIGN §8).

What becomes what:
- `linear` whose weight carries a `QuantSpec`, and `matmul` whose right operand is
  a 2-D quantised constant: a packed GEMM, on one of four kernel paths
  (`kernel_path`). "blocked", "vnni" and "lut": the activation is flattened to
  [M, K] and passed with the packed arrays (`packing` module docstring) to a
  `call_tir` of the kernel specialised on the layer's `KernelShape` and packed
  layout (`kernels.linear_kernel` for the CPU; `gpu.py`, "blocked" only, for
  CUDA), then reshaped back. "dense" (decompress then dense): a `call_tir` of
  `kernels.dequantize_kernel` decodes the weight to float32 [N, K] once per
  call, and a Relax matmul (scheduled by `cpu_schedule.Matmul`) multiplies.
  Layers of equal shape share one kernel.
- `conv2d` with a quantised weight: its im2col patches [N*OH*OW, KH*KW*C] (one
  injective TE stage) times the weight's [O, KH*KW*C] matrix view (`conv`), as a
  packed GEMM on the same paths, then back to NCHW. A grouped conv (groups > 1)
  decodes its packed weight once per call ("dense") and calls Relax's conv2d.
- every other node: `relax_ops.RELAX_OPS`, then a cast to the node's dtype.
- parameters (constants of origin "parameter": weights, biases, norms, embedding
  tables) are *function parameters* of `main`, after the graph inputs: packed
  arrays for packed weights, float arrays for the rest. The module holds no
  weight data, so one compiled module serves any weights of the same shapes
  (`LoweredGraph.arguments` supplies them; per-layer timing re-uses a built layer
  across layers this way). Folded constants, buffers and literals (rotary tables,
  masks, scalars) are part of the model's structure and are embedded.

Kernel path rule (`kernel_path`; `--kernel` on the command line picks `choice`):

    choice  path
    auto    "vnni" where the host has AVX-512 VNNI (and VBMI for table formats)
            and the "vnni" layout holds the weight (an integer format, or
            integer-valued tables: FP4, flint, BitMoD; N a multiple of 16,
            groups a multiple of 32); else as "float"
    float   "dense" for M >= DENSE_MIN_ROWS activation rows, else "blocked"
    vnni    "vnni"        lut     "lut"        lut-f32  "lut-f32"
            (at any M; refused in one line where the host or layout cannot)

Why. The fused float kernel ("blocked") decodes the weight inside its row
loop, once per activation row: at M = 128 (MiniLM prefill) that is 128 decodes
of each weight, where decoding once into float32 (O(N*K), a few per cent of the
matmul's O(M*N*K)) and a register-tiled dense matmul is ~8x faster. At small M
the weight's bytes dominate and the fused kernels stream the packed words. The
int8 VNNI path beats both at every M measured (GEMV 3-4x the float kernel,
`benchmarks/gemv_cpu.py`; MiniLM prefill ~3x "dense", `benchmarks/prefill_cpu.py`:
vpdpbusd does 4 int8 products per lane where an FMA does one), at the price of
rounding the activations to int8 per block of 32, which its check tolerance
states (`graph_runtime`). "float" keeps float activations ("dense" and
"blocked" are exact to float32 summation order). "lut" (T-MAC tables) is never
chosen automatically: on this ISA it is slower than VNNI at 4 bits and about
equal at 2 (`tuning` docstring), with coarser numerics. "lut-f32" reads the same
bit-planes with float32 tables (`lut.lut_float_operand`): exact like "float",
about 2x slower than int8 tables and 1.3-2.5x faster than "blocked" (GEMV,
W4 and W3).

Refused, each as one line naming the node: a quantised weight the packed layout
cannot hold (`PackingError`: outlier side-tables, a group size
smaller than a block, e.g. a 3-channel stem conv quantised per channel); an
N-D quantised matmul operand (no packed kernel); a shape-only graph; a node TVM
cannot type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax, tirx

from bitsmith.backends.tvm.conv import conv_weight_matrix, im2col
from bitsmith.backends.tvm.errors import BackendError
from bitsmith.backends.tvm.kernels import KernelSchedule, KernelShape, dequantize_kernel, linear_kernel
from bitsmith.backends.tvm.packing import PackedWeight, PackingError, pack_weight
from bitsmith.backends.tvm.relax_ops import RELAX_OPS, Operands, embedded, tvm_dtype
from bitsmith.backends.tvm.runtime import supports
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.ir.interpret import bind_inputs
from bitsmith.ir.ops import GEMM_LIKE, Op

KernelBuilder = Callable[[KernelShape, KernelSchedule], tirx.PrimFunc]
# (the weight's matrix spec, M, packed layout) -> the layer's schedule
Scheduler = Callable[[QuantSpec, int, str], KernelSchedule]
OPAQUE = 8  # relax's OpPatternKind kOpaque: FuseOps leaves the scheduled kernel alone
KERNEL_CHOICES = ("auto", "float", "vnni", "lut", "lut-f32")
CPU_PATHS = ("blocked", "dense", "vnni", "lut", "lut-f32")
# packed layout and "lut" table entries of each path
PATH_PACKING = {"blocked": ("blocked", "int8"), "dense": ("blocked", "int8"), "vnni": ("vnni", "int8"),
                "lut": ("lut", "int8"), "lut-f32": ("lut", "float32")}
DENSE_MIN_ROWS = 16  # activation rows from which decoding once beats decoding per row


def cpu_kernel(shape: KernelShape, schedule: KernelSchedule = KernelSchedule()) -> tirx.PrimFunc:
    """The packed kernel for the host CPU."""
    return linear_kernel(shape, schedule)["main"]


def default_schedule(_spec: QuantSpec, _m: int, _layout: str) -> KernelSchedule:
    """Every layer's schedule without a search (`tuning.tuned_schedule` searches)."""
    return KernelSchedule()


def kernel_path(spec: QuantSpec, m: int, choice: str = "auto", paths: Sequence[str] = CPU_PATHS,
                pack: Callable[[str], PackedWeight] | None = None) -> str:
    """The kernel path of a packed GEMM with `m` activation rows (module
    docstring table), among the `paths` the device builds. `pack(layout)` packs
    the weight for the "auto" probe (default: `pack_weight`; the lowering passes
    its own, which keeps the packing it will use)."""
    _check_choice(choice)
    if choice in ("vnni", "lut", "lut-f32"):
        layout, tables = PATH_PACKING[choice]
        if choice not in paths or not supports(layout, tables=tables):
            raise BackendError(f"the {choice} kernel path does not run on this device")
        return choice
    if choice == "auto" and "vnni" in paths and supports("vnni"):
        try:
            if supports((pack or (lambda layout: pack_weight(spec, "probe", layout=layout)))("vnni")):
                return "vnni"
        except PackingError:
            pass  # not an integer or integer-valued format, or a shape the layout cannot tile
    return "dense" if m >= DENSE_MIN_ROWS and "dense" in paths else "blocked"


def _check_choice(choice: str) -> None:
    if choice not in KERNEL_CHOICES:
        raise BackendError(f"unknown kernel {choice!r}: expected one of {', '.join(KERNEL_CHOICES)}")


@dataclass(frozen=True)
class PackedLayer:
    """A GEMM node lowered to a packed kernel: its weight as packed, the kernel
    shape it was specialised on, the path (`kernel_path`) and its schedule."""

    node: str
    weight: PackedWeight
    shape: KernelShape
    path: str
    schedule: KernelSchedule = KernelSchedule()


@dataclass(frozen=True, eq=False)
class LoweredGraph:
    """The Relax module of a graph (`main(inputs..., params...)`) and the arrays
    its parameters take, in order."""

    graph: Graph
    module: tvm.IRModule
    param_names: tuple[str, ...]
    param_arrays: tuple[np.ndarray, ...]
    packed: tuple[PackedLayer, ...]

    def arguments(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
        """`main`'s arguments: the inputs (checked as `interpret` checks them), then
        the parameters."""
        bound = bind_inputs(self.graph, inputs)
        return [bound[v.name] for v in self.graph.inputs] + list(self.param_arrays)


def lower_graph(graph: Graph, kernel: KernelBuilder = cpu_kernel, *, choice: str = "auto",
                paths: Sequence[str] = CPU_PATHS, schedule: Scheduler = default_schedule) -> LoweredGraph:
    """`graph` as a Relax IRModule whose packed GEMMs call kernels from `kernel`,
    on the path `kernel_path(spec, M, choice, paths)` picks per layer, scheduled
    as `schedule` says (default: `KernelSchedule()`; `tuning.tuned_schedule`
    searches per layer shape, cached on disk)."""
    if graph.shape_only:
        missing = next(c.name for c in graph.constants if c.shape_only)
        raise BackendError(f"graph {graph.name} is shape-only (constant %{missing} has no data): nothing to run")
    _check_choice(choice)  # also where no GEMM is packed
    return _Lowering(graph, kernel, choice, tuple(paths), schedule).run()


class _Lowering:
    """One walk over the graph, in order, emitting into one dataflow block."""

    def __init__(self, graph: Graph, kernel: KernelBuilder, choice: str, paths: tuple[str, ...],
                 schedule: Scheduler) -> None:
        self.graph = graph
        self.kernel, self.schedule = kernel, schedule
        self.choice, self.paths = choice, paths
        self.bb = relax.BlockBuilder()
        self.env: dict[str, relax.Expr] = {}
        self.params: list[tuple[relax.Var, np.ndarray]] = []
        self.kernels: dict[tuple[str, KernelShape, KernelSchedule], relax.GlobalVar] = {}
        self.packings: dict[tuple[str, str], PackedWeight] = {}
        self.packed_vars: dict[tuple[str, str], tuple[PackedWeight, list[relax.Var]]] = {}
        self.packed: list[PackedLayer] = []

    def run(self) -> LoweredGraph:
        inputs = [relax.Var(v.name, _tensor_type(v.type)) for v in self.graph.inputs]
        self.env.update((v.name, var) for v, var in zip(self.graph.inputs, inputs, strict=True))
        with self.bb.function("main"):
            try:
                with self.bb.dataflow():
                    for node in self.graph.nodes:
                        self.env[node.name] = self._node(node)
                    outs = [self.env[name] for name in self.graph.outputs]
                    result = self.bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
            except BaseException:
                # a refused node: the dataflow scope's exit opened a binding block, which
                # TVM would report on stderr ("destroyed with remaining blocks") at exit
                self.bb._end_block()
                raise
            self.bb.emit_func_output(result, params=inputs + [var for var, _ in self.params])
        return LoweredGraph(self.graph, self.bb.get(), tuple(var.name for var, _ in self.params),
                            tuple(array for _, array in self.params), tuple(self.packed))

    # --- nodes -------------------------------------------------------------------
    def _node(self, node: Node) -> relax.Expr:
        try:
            expr = self._packed_gemm(node)
            if expr is None:
                self._check_weight_operand(node)
                types = [self.graph.value(name).type for name in node.inputs]
                expr = RELAX_OPS[node.op](Operands([self._operand(n) for n in node.inputs], types, node))
            out = self.bb.emit(expr, name_hint=node.name)
            if out.ty.dtype != tvm_dtype(node.type):
                out = self.bb.emit(relax.op.astype(out, tvm_dtype(node.type)), name_hint=node.name)
        except BitsmithError:
            raise
        except (TypeError, ValueError, RuntimeError) as err:  # TVM's type inference refusing the node
            raise BackendError(f"node %{node.name} ({node.op}): TVM cannot lower it: "
                               f"{str(err).strip().splitlines()[-1]}") from None
        return out

    def _operand(self, name: str) -> relax.Expr:
        """The Relax value of `name`; a constant becomes a parameter (first use) or
        an embedded constant (module docstring)."""
        if name not in self.env:
            const = self.graph.constant(name)
            if const.origin == "parameter":
                self.env[name] = self._param(const.name, const.data)
            else:
                self.env[name] = embedded(np.asarray(const.data))
        return self.env[name]

    def _param(self, name: str, array: np.ndarray) -> relax.Var:
        var = relax.Var(name, relax.TensorType(array.shape, str(array.dtype)))
        self.params.append((var, np.ascontiguousarray(array)))
        return var

    def _check_weight_operand(self, node: Node) -> None:
        """A quantised weight read by a GEMM that has no packed kernel is refused
        rather than silently run in float."""
        if node.op not in GEMM_LIKE or len(node.inputs) < 2:
            return
        const = self.graph.constant(node.inputs[1])
        if const is not None and const.quant is not None:
            raise BackendError(f"node %{node.name}: {node.op} with a quantised {list(const.type.shape)} weight "
                               f"({const.quant.scheme}) has no packed TVM kernel; linear, conv2d and 2-D matmul weights do")

    # --- packed GEMMs --------------------------------------------------------------
    def _packed_gemm(self, node: Node) -> relax.Expr | None:
        """The packed-kernel call for a linear/matmul with a 2-D quantised constant
        weight or a conv2d with a quantised weight, or None when the node is
        neither."""
        if node.op not in (Op.LINEAR, Op.MATMUL, Op.CONV2D):
            return None
        const = self.graph.constant(node.inputs[1])
        if const is None or const.quant is None:
            return None
        if node.op is Op.CONV2D:
            return self._packed_conv(node, const)
        if len(const.type.shape) != 2:
            return None
        lead = self.graph.value(node.inputs[0]).type.shape[:-1]
        return self._gemm(node, const.name, const.quant, self._float_operand(node.inputs[0]), lead)

    def _gemm(self, node: Node, weight: str, spec: QuantSpec, x: relax.Expr, lead: tuple[int, ...]) -> relax.Expr:
        """y[*lead, N] = x[*lead, K] . W^T (+ the node's bias), W the packed `spec`,
        on the path `kernel_path` picks for M = prod(lead) rows."""
        m = math.prod(lead)
        path = kernel_path(spec, m, self.choice, self.paths, pack=lambda layout: self._packing(weight, spec, layout))
        layout, tables = PATH_PACKING[path]
        packed, arrays = self._packed_weight(weight, spec, layout, tables)
        bias = len(node.inputs) == 3
        shape = KernelShape.of(packed, 0 if path == "dense" else m, bias=bias and path != "dense", tables=tables)
        schedule = KernelSchedule() if path == "dense" else self.schedule(spec, m, layout)
        self.packed.append(PackedLayer(node.name, packed, shape, path, schedule))
        bias_arg = [self._float_operand(node.inputs[2])] if bias else []
        if path == "dense":
            y = relax.op.matmul(x, relax.op.permute_dims(self._decoded(packed, arrays, shape)))
            return relax.op.add(y, bias_arg[0]) if bias else y
        args = [self.bb.emit(relax.op.reshape(x, (m, packed.k))), *arrays, *bias_arg]
        out_type = relax.TensorType((m, packed.n), "float32")
        y = self.bb.emit(relax.call_tir(self._kernel("linear", shape, schedule), args, out_type))
        return relax.op.reshape(y, (*lead, packed.n))

    def _packed_conv(self, node: Node, const: Constant) -> relax.Expr:
        """A quantised conv2d: im2col patches times the packed [O, KH*KW*C] matrix
        (`conv`), back to NCHW; a grouped conv decodes its weight and calls
        Relax's conv2d."""
        out_channels, group_channels, kh, kw = const.type.shape
        stride, padding, dilation = (tuple(node.attrs[a]) for a in ("stride", "padding", "dilation"))
        spec = conv_weight_matrix(const.quant)
        x = self._float_operand(node.inputs[0])
        if node.attrs["groups"] != 1:
            packed, arrays = self._packed_weight(const.name, spec, "blocked")
            shape = KernelShape.of(packed, 0, bias=False)
            self.packed.append(PackedLayer(node.name, packed, shape, "dense"))
            matrix = self._decoded(packed, arrays, shape)
            w = relax.op.permute_dims(relax.op.reshape(matrix, (out_channels, kh, kw, group_channels)), (0, 3, 1, 2))
            y = relax.op.nn.conv2d(x, self.bb.emit(w), strides=stride, padding=padding, dilation=dilation,
                                   groups=node.attrs["groups"])
            if len(node.inputs) == 3:
                y = relax.op.add(y, relax.op.reshape(self._float_operand(node.inputs[2]), (1, -1, 1, 1)))
            return y
        patches = self.bb.emit_te(im2col, x, (kh, kw), stride, padding, dilation, primfunc_name_hint="im2col")
        batch, _, oh, ow = self.graph.value(node.name).type.shape
        y = self.bb.emit(self._gemm(node, const.name, spec, patches, (batch * oh * ow,)))
        return relax.op.permute_dims(relax.op.reshape(y, (batch, oh, ow, out_channels)), (0, 3, 1, 2))

    def _float_operand(self, name: str) -> relax.Expr:
        """The operand as float32, the packed kernels' activation type."""
        x = self._operand(name)
        if tvm_dtype(self.graph.value(name).type) != "float32":
            x = self.bb.emit(relax.op.astype(x, "float32"))
        return x

    def _decoded(self, packed: PackedWeight, arrays: list[relax.Var], shape: KernelShape) -> relax.Expr:
        """The weight decoded to float32 [N, K], once per call ("dense")."""
        return self.bb.emit(relax.call_tir(self._kernel("dequantize", shape), arrays,
                                           relax.TensorType((packed.n, packed.k), "float32")))

    def _packing(self, name: str, spec: QuantSpec, layout: str) -> PackedWeight:
        """Constant `name` (its spec as a matrix) packed in `layout`, once."""
        if (name, layout) not in self.packings:
            self.packings[name, layout] = pack_weight(spec, name, layout=layout)
        return self.packings[name, layout]

    def _packed_weight(self, name: str, spec: QuantSpec, layout: str,
                       tables: str = "int8") -> tuple[PackedWeight, list[relax.Var]]:
        """The packing of constant `name` in `layout` and its arrays as parameters
        (added once); `tables` says which "lut" kernel will read it."""
        if (name, layout) not in self.packed_vars:
            packed = self._packing(name, spec, layout)
            if not supports(packed, tables=tables):
                raise BackendError(f"weight {name}: the {layout} kernel needs CPU features this host lacks")
            arrays = [self._param(f"{name}.{key}", array) for key, array in packed.arrays().items()]
            self.packed_vars[name, layout] = (packed, arrays)
        return self.packed_vars[name, layout]

    def _kernel(self, kind: str, shape: KernelShape, schedule: KernelSchedule = KernelSchedule()) -> relax.GlobalVar:
        """The `kind` ("linear" or "dequantize") kernel for `shape` and `schedule`,
        added to the module once."""
        if (kind, shape, schedule) not in self.kernels:
            symbol = f"packed_{kind}{len(self.kernels)}"
            func = self.kernel(shape, schedule) if kind == "linear" else dequantize_kernel(shape)
            func = func.with_attrs({"global_symbol": symbol, "op_pattern": OPAQUE, "tirx.is_scheduled": True})
            self.kernels[kind, shape, schedule] = self.bb.add_func(func, symbol)
        return self.kernels[kind, shape, schedule]


def _tensor_type(t) -> relax.TensorType:
    return relax.TensorType(t.shape, tvm_dtype(t))
