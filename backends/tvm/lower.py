"""An annotated graph as one Relax IRModule: packed TIR kernels for the low-bit
GEMMs, Relax ops for the rest (DESIGN §8).

What becomes what:
- `linear` whose weight carries a `QuantSpec`, and `matmul` whose right operand is
  a 2-D quantised constant: the activation is flattened to [M, K] and passed with
  the packed arrays (`packing` module docstring) to a `call_tir` of the
  dequantise-then-multiply kernel specialised on the layer's `KernelShape`
  (`kernels.linear_kernel` for the CPU; `gpu.py` for CUDA), then reshaped back.
  Layers of equal shape share one kernel.
- every other node: `relax_ops.RELAX_OPS`, then a cast to the node's dtype.
- parameters (constants of origin "parameter": weights, biases, norms, embedding
  tables) are *function parameters* of `main`, after the graph inputs: packed
  arrays for packed weights, float arrays for the rest. The module holds no
  weight data, so one compiled module serves any weights of the same shapes
  (`LoweredGraph.arguments` supplies them; per-layer timing re-uses a built layer
  across layers this way). Folded constants, buffers and literals (rotary tables,
  masks, scalars) are part of the model's structure and are embedded.

Refused, each as one line naming the node: a quantised weight the packed layout
cannot hold (`PackingError`: 1-bit codes, outlier side-tables, a group size
smaller than a block); a quantised conv2d weight or an N-D quantised matmul
operand (no packed kernel); a shape-only graph; a node TVM cannot type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax, tirx

from bitsmith.backends.tvm.errors import BackendError
from bitsmith.backends.tvm.kernels import KernelSchedule, KernelShape, linear_kernel
from bitsmith.backends.tvm.packing import PackedWeight, pack_weight
from bitsmith.backends.tvm.relax_ops import RELAX_OPS, Operands, embedded, tvm_dtype
from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.ir.interpret import bind_inputs
from bitsmith.ir.ops import GEMM_LIKE, Op

KernelBuilder = Callable[[KernelShape], tirx.PrimFunc]
OPAQUE = 8  # relax's OpPatternKind kOpaque: FuseOps leaves the scheduled kernel alone


def cpu_kernel(shape: KernelShape) -> tirx.PrimFunc:
    """The packed kernel for the host CPU, with the default schedule."""
    return linear_kernel(shape, KernelSchedule())["main"]


@dataclass(frozen=True)
class PackedLayer:
    """A GEMM node lowered to a packed kernel: its weight as packed, and the
    kernel shape it was specialised on."""

    node: str
    weight: PackedWeight
    shape: KernelShape


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


def lower_graph(graph: Graph, kernel: KernelBuilder = cpu_kernel) -> LoweredGraph:
    """`graph` as a Relax IRModule whose packed GEMMs call kernels from `kernel`."""
    if graph.shape_only:
        missing = next(c.name for c in graph.constants if c.shape_only)
        raise BackendError(f"graph {graph.name} is shape-only (constant %{missing} has no data): nothing to run")
    return _Lowering(graph, kernel).run()


class _Lowering:
    """One walk over the graph, in order, emitting into one dataflow block."""

    def __init__(self, graph: Graph, kernel: KernelBuilder) -> None:
        self.graph = graph
        self.kernel = kernel
        self.bb = relax.BlockBuilder()
        self.env: dict[str, relax.Expr] = {}
        self.params: list[tuple[relax.Var, np.ndarray]] = []
        self.kernels: dict[KernelShape, relax.GlobalVar] = {}
        self.packed_vars: dict[str, tuple[PackedWeight, list[relax.Var]]] = {}
        self.packed: list[PackedLayer] = []

    def run(self) -> LoweredGraph:
        inputs = [relax.Var(v.name, _tensor_type(v.type)) for v in self.graph.inputs]
        self.env.update((v.name, var) for v, var in zip(self.graph.inputs, inputs, strict=True))
        with self.bb.function("main"):
            with self.bb.dataflow():
                for node in self.graph.nodes:
                    self.env[node.name] = self._node(node)
                outs = [self.env[name] for name in self.graph.outputs]
                result = self.bb.emit_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
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
                               f"({const.quant.scheme}) has no packed TVM kernel; only 2-D linear/matmul weights do")

    # --- packed GEMMs --------------------------------------------------------------
    def _packed_gemm(self, node: Node) -> relax.Expr | None:
        """The packed-kernel call for a linear/matmul with a 2-D quantised constant
        weight, or None when the node is not one."""
        if node.op not in (Op.LINEAR, Op.MATMUL):
            return None
        const = self.graph.constant(node.inputs[1])
        if const is None or const.quant is None or len(const.type.shape) != 2:
            return None
        packed, arrays = self._packed_weight(const)
        x_type = self.graph.value(node.inputs[0]).type
        lead = x_type.shape[:-1]
        m = math.prod(lead)
        x = relax.op.reshape(self._operand(node.inputs[0]), (m, packed.k))
        if tvm_dtype(x_type) != "float32":
            x = relax.op.astype(x, "float32")
        args = [self.bb.emit(x), *arrays]
        if len(node.inputs) == 3:
            args.append(self.bb.emit(relax.op.astype(self._operand(node.inputs[2]), "float32")))
        shape = KernelShape.of(packed, m, bias=len(node.inputs) == 3)
        self.packed.append(PackedLayer(node.name, packed, shape))
        y = self.bb.emit(relax.call_tir(self._kernel(shape), args, relax.TensorType((m, packed.n), "float32")))
        return relax.op.reshape(y, (*lead, packed.n))

    def _packed_weight(self, const: Constant) -> tuple[PackedWeight, list[relax.Var]]:
        """The constant packed (once) and its arrays as parameters."""
        if const.name not in self.packed_vars:
            packed = pack_weight(const.quant, const.name)
            arrays = [self._param(f"{const.name}.{key}", array) for key, array in packed.arrays().items()]
            self.packed_vars[const.name] = (packed, arrays)
        return self.packed_vars[const.name]

    def _kernel(self, shape: KernelShape) -> relax.GlobalVar:
        """The kernel for `shape`, added to the module once."""
        if shape not in self.kernels:
            symbol = f"packed_linear{len(self.kernels)}"
            func = self.kernel(shape).with_attrs({"global_symbol": symbol, "op_pattern": OPAQUE,
                                                  "tirx.is_scheduled": True})
            self.kernels[shape] = self.bb.add_func(func, symbol)
        return self.kernels[shape]


def _tensor_type(t) -> relax.TensorType:
    return relax.TensorType(t.shape, tvm_dtype(t))
