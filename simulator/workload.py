"""A graph as the list of layer problems the engines cost (problem.py).

GEMM-like nodes become `GemmProblem`s, as BitMoD's simulator counts them (FACTS
§1.4):

- `linear`: M = every row of the input (tokens x batch), N outputs, K inputs;
- `conv2d` by im2col: M = N·H'·W', K = C/groups·kh·kw, N = O/groups, one GEMM per
  group (`batch = groups`);
- `matmul`: batch dims fold into M when the right operand has none (shared
  weights), else `batch` = the broadcast batch dims;
- `attention`: two GEMMs per head, `<name>.qk` (Sq x D against Skv x D) and
  `<name>.pv` (Sq x Skv against Skv x Dv) with `batch = B·heads`, and between them
  `<name>.softmax` on the vector unit.

The weight operand's format comes from its constant: the `QuantSpec`'s scheme
(`uint{k}` when asymmetric), element bits and stored bits per weight with
metadata; an unquantised constant is its dtype (`f16`, `f32`, `i8`, which the
`int8` format also names). It must be one of the target's `formats.weights`, or
be made of their members (`Formats.missing_weight_format`: a per-group mixture
that `assign_dtypes` built from the target's formats, on a target whose decoder
takes a per-group format id). A right operand that is an activation (attention's
K and V, `matmul` of two activations) is read as a cache at the target's
`formats.kv_cache` width, the format the target declares its array runs attention
at (BitMoD: 8 bits). Float activations move at the target's widest activation
format (the graph's f32 is the reference's precision, not the datapath's); integer
ones at their own width.

A `fake_quant` states the activations' format in the graph: its output moves at
that format's width, which is then the activation width of the GEMM reading it,
and an activation right operand it produces is read in its format rather than
`kv_cache`'s (attention's scores-times-V GEMM reads the softmax, at the widest
activation format, as before).

An elementwise node in a GEMM's `epilogue` (the fuse_epilogue pass) is a
`VectorProblem` fused into that GEMM (`fused_into`): the value it reads from the
chain never leaves the chip, so it reads only its other operands (a residual, a
scale) and writes nothing; the GEMM still writes its output bytes once, after the
epilogue. How its cycles overlap the GEMM's: engines/vector.py.

Every other node becomes a `VectorProblem` for the vector unit, with the
operation counts of `OPS_PER_ELEMENT` below (`fake_quant` included: the quantiser
in front of the array that turns activations into the datapath's codes). Data
movement (`permute`, `concat`, `slice`, `take`, `embedding`) costs memory traffic
only (0 ops: a DMA moves it, so it needs no vector unit); `reshape` and `expand`
are views and cost nothing (no problem is emitted).

Phase: "decode" when the graph attends one query position per sequence to a
longer key/value cache (the zoo's LLM decode graphs), else "prefill" (including
graphs with no attention).
"""

from __future__ import annotations

import math

from bitsmith.ir.formats.fake_quant import activation_format
from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.ops import COMPARISON, GEMM_LIKE, LOGICAL, QUANTIZATION, Op
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.problem import GemmProblem, LayerProblem, VectorProblem
from bitsmith.targets.accelerator import Accelerator
from bitsmith.targets.fields import format_bits

# Vector-unit operations per output element, counting one per elementary
# arithmetic step and one per special function (exp, erf, rsqrt, ... on a
# special-function lane). Reductions and pooling depend on the window and are
# computed in `_vector_ops`.
_ONE_STEP = (
    {Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAXIMUM, Op.MINIMUM, Op.WHERE, Op.NEG, Op.ABS, Op.EXP, Op.LOG,
     Op.SQRT, Op.RSQRT, Op.RECIPROCAL, Op.SIN, Op.COS, Op.TANH, Op.ERF, Op.SIGMOID, Op.RELU, Op.CLAMP, Op.CAST}
    | COMPARISON | LOGICAL
)
OPS_PER_ELEMENT: dict[Op, int] = {
    **{op: 1 for op in _ONE_STEP},
    Op.SILU: 2,  # sigmoid, multiply
    Op.SOFTMAX: 5,  # row max, subtract, exp, row sum, divide
    Op.LOG_SOFTMAX: 5,  # row max, subtract, exp, row sum, subtract the log
    Op.LAYER_NORM: 5,  # mean, subtract, square, variance, scale by rsqrt (+1 per affine operand)
    Op.RMS_NORM: 3,  # square, mean, scale by rsqrt (+1 per affine operand)
    # scale, round, clamp (+1 to add an unsigned format's zero point; when dynamic, +1
    # per row statistic: the absmax, or the min and the max for an unsigned format)
    Op.FAKE_QUANT: 3,
}
_GELU_OPS = {"none": 5, "tanh": 8}  # erf: scale, erf, +1, x*, 0.5*; tanh: x^3 (2), fma, scale, tanh, +1, x*, 0.5*
_ATTENTION_SOFTMAX_OPS = 6  # scale the scores, then softmax (+1 to apply a causal or explicit mask)
MOVES_DATA = frozenset({Op.PERMUTE, Op.CONCAT, Op.SLICE, Op.TAKE, Op.EMBEDDING})
VIEWS = frozenset({Op.RESHAPE, Op.EXPAND})


def workload(graph: Graph, target: Accelerator) -> list[LayerProblem]:
    """The layer problems of `graph` on `target`, in graph order; raises
    SimulationError naming the layer for work the target cannot do. The problems
    do not depend on the phase: it picks the array's shape, which is the engines'."""
    builder = _Builder(graph, target)
    problems: list[LayerProblem] = []
    for node in graph.nodes:
        problems.extend(builder.problems(node))
    return problems


def workload_key(target: Accelerator) -> str:
    """All that `workload` reads of a target: its formats (activation width, KV-cache
    format, the weight formats it takes), whether it has a vector unit, and its
    name (in errors). Targets with equal keys get equal problems from one graph,
    so a sweep over the other fields (array shape, buffers, clock, DRAM) builds
    them once; keep this in step with `_Builder`."""
    return f"{target.name}|{target.vector_unit is None}|{target.formats.model_dump_json()}"


def graph_phase(graph: Graph) -> str:
    """"decode" when every attention node has one query position per sequence and
    a longer key/value cache, else "prefill" (module docstring)."""
    shapes = [(graph.value(n.inputs[0]).type.shape[-2], graph.value(n.inputs[1]).type.shape[-2])
              for n in graph.nodes if n.op is Op.ATTENTION]
    return "decode" if shapes and all(sq == 1 < skv for sq, skv in shapes) else "prefill"


def weight_format(graph: Graph, node: Node, target: Accelerator, index: int = 1) -> tuple[str, int, float, int | None]:
    """(format name, element bits, stored bits per element, group size along K) of
    `node`'s right operand (input `index`: attention's V is 2); an activation operand
    is in the format of the fake_quant producing it, else the target's KV-cache format."""
    operand = graph.constant(node.inputs[index]) if node.op is not Op.ATTENTION else None
    if operand is None:
        producer = graph.producer(node.inputs[index])
        quantised = producer is not None and producer.op in QUANTIZATION
        name = producer.attrs["format"] if quantised else target.formats.kv_cache
        bits = format_bits(name)
        return name, bits, float(bits), None
    if operand.quant is not None:
        spec = operand.quant
        name = spec.formats[0] if spec.asymmetric else spec.scheme
        # Weights per scale along the reduction: a conv's "channel" scales cover one
        # run of C per (output, kh, kw), which is a group of the im2col K.
        run = {"group": spec.group_size, "channel": spec.shape[spec.axis]}.get(spec.granularity)
        reduction = math.prod(operand.type.shape[1:]) if node.op is Op.CONV2D else spec.shape[spec.axis]
        return name, format_bits(name), spec.bits_per_weight(), run if run != reduction else None
    dtype = operand.type.dtype
    aliases = (dtype.name, f"int{dtype.bits}") if dtype.kind == "int" else (dtype.name,)
    name = next((a for a in aliases if a in target.formats.weights), dtype.name)
    return name, dtype.bits, float(dtype.bits), None


class _Builder:
    """Turns one node at a time into problems, with the target's widths at hand."""

    def __init__(self, graph: Graph, target: Accelerator) -> None:
        self.graph, self.target = graph, target
        self.act_bits = max(format_bits(name) for name in target.formats.activations)
        # epilogue node -> (its GEMM, the chain value it reads)
        self.fused: dict[str, tuple[str, str]] = {}
        for node in graph.nodes:
            chain = (node.name, *node.attrs.get("epilogue", ()))
            self.fused.update((name, (node.name, previous)) for previous, name in zip(chain, chain[1:]))

    def bits(self, name: str) -> int:
        """Bits one element of value `name` occupies on the target (module docstring)."""
        producer = self.graph.producer(name)
        if producer is not None and producer.op in QUANTIZATION:
            return format_bits(producer.attrs["format"])
        dtype = self.graph.value(name).type.dtype
        return self.act_bits if dtype.is_float else dtype.bits

    def nbytes(self, name: str) -> float:
        return self.graph.value(name).type.numel * self.bits(name) / 8

    def fail(self, node: Node, reason: str) -> SimulationError:
        return SimulationError(f"layer %{node.name} ({node.op}): {reason}")

    def problems(self, node: Node) -> list[LayerProblem]:
        if node.op in GEMM_LIKE:
            return self.gemm(node)
        if node.op in VIEWS:
            return []
        return [self.vector(node)]

    # --- GEMMs ------------------------------------------------------------------
    def gemm(self, node: Node) -> list[LayerProblem]:
        fmt, bits, stored, group = weight_format(self.graph, node, self.target)
        weight = None if node.op is Op.ATTENTION else self.graph.constant(node.inputs[1])
        missing = None if weight is None else self.target.formats.missing_weight_format(fmt, weight.quant)
        if missing is not None:
            member = "" if missing == fmt else f" (a member of %{weight.name}'s {fmt})"
            raise self.fail(node, f"weight format {missing}{member} is not supported by target {self.target.name} "
                                  f"(weights: {', '.join(self.target.formats.weights)})")
        common = dict(op=str(node.op), weight_format=fmt, weight_bits=bits, weight_bits_per_element=stored,
                      act_bits=self.bits(node.inputs[0]), out_bits=self.act_bits, group_size=group)
        if node.op is Op.ATTENTION:
            return self.attention(node, common)
        m, n, k, batch = self.gemm_dims(node)
        return [GemmProblem(name=node.name, M=m, N=n, K=k, batch=batch, weight_reuse=m > 1, **common)]

    def gemm_dims(self, node: Node) -> tuple[int, int, int, int]:
        """(M, N, K, batch) of a linear, conv2d or matmul node."""
        x = self.graph.value(node.inputs[0]).type.shape
        w = self.graph.value(node.inputs[1]).type.shape
        out = node.type.shape
        if node.op is Op.LINEAR:
            return math.prod(x[:-1]), w[0], w[1], 1
        if node.op is Op.CONV2D:
            groups = node.attrs["groups"]
            return out[0] * out[2] * out[3], w[0] // groups, w[1] * w[2] * w[3], groups
        if math.prod(w[:-2]) == 1:  # matmul against one shared right operand
            return math.prod(x[:-1]), w[-1], w[-2], 1
        return out[-2], out[-1], x[-1], math.prod(out[:-2])

    def attention(self, node: Node, common: dict) -> list[LayerProblem]:
        q = self.graph.value(node.inputs[0]).type.shape
        k = self.graph.value(node.inputs[1]).type.shape
        v = self.graph.value(node.inputs[2]).type.shape
        batch, sq, skv = math.prod(q[:-2]), q[-2], k[-2]
        masked = node.attrs["causal"] or len(node.inputs) == 4
        scores = batch * sq * skv
        score_bytes = scores * self.act_bits / 8
        v_format, v_bits, v_stored, _ = weight_format(self.graph, node, self.target, index=2)
        pv = dict(common, weight_format=v_format, weight_bits=v_bits, weight_bits_per_element=v_stored,
                  act_bits=self.act_bits)  # its left operand is the softmax, which no fake_quant rounds
        return [
            GemmProblem(name=f"{node.name}.qk", M=sq, N=skv, K=q[-1], batch=batch, weight_reuse=sq > 1, **common),
            VectorProblem(name=f"{node.name}.softmax", op="softmax", elements=scores,
                          ops_per_element=_ATTENTION_SOFTMAX_OPS + masked,
                          input_bytes=score_bytes, output_bytes=score_bytes),
            GemmProblem(name=f"{node.name}.pv", M=sq, N=v[-1], K=skv, batch=batch, weight_reuse=sq > 1, **pv),
        ]

    # --- everything else ----------------------------------------------------------
    def vector(self, node: Node) -> VectorProblem:
        out_bytes = self.nbytes(node.name)
        if node.op in MOVES_DATA:
            # A gather or copy reads what it writes (plus any indices), and computes nothing.
            index_bytes = sum(self.nbytes(i) for i in node.inputs if not self.graph.value(i).type.dtype.is_float)
            return VectorProblem(node.name, str(node.op), node.type.numel, 0, out_bytes + index_bytes, out_bytes)
        if self.target.vector_unit is None:
            raise self.fail(node, f"target {self.target.name} has no vector unit to run it")
        gemm, chained = self.fused.get(node.name, (None, None))
        in_bytes = sum(self.nbytes(i) for i in dict.fromkeys(node.inputs) if i != chained)
        return VectorProblem(node.name, str(node.op), node.type.numel, self.vector_ops(node), in_bytes,
                             out_bytes if gemm is None else 0.0, fused_into=gemm)

    def vector_ops(self, node: Node) -> int:
        """Operations per output element (module docstring and OPS_PER_ELEMENT)."""
        x = self.graph.value(node.inputs[0]).type.shape
        if node.op in (Op.SUM, Op.MAX, Op.MIN, Op.MEAN):
            reduced = math.prod(x) // max(1, math.prod(node.type.shape))
            return reduced + (node.op is Op.MEAN)  # one step per element reduced, then the divide
        if node.op in (Op.MAX_POOL2D, Op.AVG_POOL2D):
            kh, kw = node.attrs["kernel"]
            return kh * kw + (node.op is Op.AVG_POOL2D)
        if node.op is Op.ADAPTIVE_AVG_POOL2D:
            (oh, ow), (h, w) = node.attrs["output_size"], x[2:]
            return math.ceil(h / oh) * math.ceil(w / ow) + 1  # the widest window, then the divide
        if node.op is Op.GELU:
            return _GELU_OPS[node.attrs["approximate"]]
        if node.op in (Op.LAYER_NORM, Op.RMS_NORM):
            return OPS_PER_ELEMENT[node.op] + len(node.inputs) - 1
        if node.op is Op.FAKE_QUANT:
            unsigned = activation_format(node.attrs["format"]).asymmetric
            dynamic = node.attrs["granularity"] == "token"
            return OPS_PER_ELEMENT[node.op] + unsigned + dynamic * (1 + unsigned)
        return OPS_PER_ELEMENT[node.op]
