"""Quantise activations where the target's datapath needs it: a `fake_quant` in
front of every activation operand of every GEMM-like op.

Which targets: accelerators whose `formats.activations` names no floating-point IR
type (f16, bf16, f32), so their array takes integer or FP8 operands
(int8_systolic, bitfusion, stripes, loom). For f16 datapaths (bitmod, ant, olive,
fp16_mac, lut_tensor_core), CPUs, GPUs and compiling without a target the pass
returns the graph unchanged.

Which operands (constants are weights, `quantize_weights`' business):
- `linear` and `conv2d`: the input x;
- `matmul`: a non-constant left operand, and a non-constant right operand, which
  the simulator reads as a KV cache (simulator/workload.py), so it takes the KV format;
- `attention`: q in the activation format, k and v in the KV format.
One quantiser per (value, format): the q, k and v projections reading one norm's
output share it, as hardware quantises a tile once before it streams to the array.
An operand a `fake_quant` already produces is left alone, so the pass is idempotent.

Format: the target's widest activation format (the first listed among equals), the
width the simulator already costs float activations at, so quantising changes the
numbers the graph computes but not the array's cycles: only the quantiser's
vector-unit work is added. A narrower per-layer precision (Stripes' p_a, Bit
Fusion's 4 or 2 bits) is a deliberate choice: `quantize_activations.format`. KV
operands take `formats.kv_cache` (`quantize_activations.kv_format` overrides). An
override must be a format the target runs: one of its activation formats (or its
KV-cache format, for `kv_format`).

Scale: static per tensor from calibrate's (min, max) of the operand when calibrate
ran earlier in the pipeline (symmetric absmax for signed formats, a zero point for
unsigned ones; ir/formats/fake_quant.py); without calibration, dynamic per token,
one scale per row computed at run time. `granularity` overrides ("tensor" needs
calibration).
"""

from __future__ import annotations

from typing import Literal

from bitsmith.ir import dtypes
from bitsmith.ir.formats.fake_quant import activation_format
from bitsmith.ir.formats.registry import UnknownFormatError
from bitsmith.ir.graph import Graph, Node, Value
from bitsmith.ir.names import unique_name
from bitsmith.ir.ops import QUANTIZATION, Op
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.calibrate import Calibration
from bitsmith.targets import Target
from bitsmith.targets.accelerator import Accelerator
from bitsmith.targets.fields import format_bits


class QuantizeActivationsOptions(PassOptions):
    """`format` and `kv_format` default to the target's widest activation format
    and its `formats.kv_cache`; `granularity` to "tensor" after calibrate, else "token"."""

    format: str | None = None
    granularity: Literal["tensor", "token"] | None = None
    kv_format: str | None = None


# Per GEMM-like op: which inputs are activation operands, and whether each is read
# as the KV cache (attention's k and v, matmul's right operand) or as activations.
ACTIVATION_OPERANDS: dict[Op, tuple[tuple[int, bool], ...]] = {
    Op.LINEAR: ((0, False),),
    Op.CONV2D: ((0, False),),
    Op.MATMUL: ((0, False), (1, True)),
    Op.ATTENTION: ((0, False), (1, True), (2, True)),
}


def needs_quantised_activations(target: Target | None) -> bool:
    """True for an accelerator whose activation formats include no float IR type."""
    return isinstance(target, Accelerator) and not any(_is_float_type(n) for n in target.formats.activations)


def _is_float_type(name: str) -> bool:
    try:
        return dtypes.dtype(name).is_float
    except KeyError:
        return False


def quantize_activations(graph: Graph, act_format: str, kv_format: str, calibration: Calibration | None) -> Graph:
    """`graph` with a fake_quant in front of every GEMM activation operand (module
    docstring): static per-tensor scales from `calibration`'s ranges, or dynamic
    per-token ones without it. Returns `graph` itself when every operand already
    comes from a fake_quant."""
    taken = {v.name for v in graph.inputs} | {c.name for c in graph.constants} | {n.name for n in graph.nodes}
    made: dict[tuple[str, str], str] = {}
    nodes: list[Node] = []
    for node in graph.nodes:
        inputs = list(node.inputs)
        for index, is_kv in ACTIVATION_OPERANDS.get(node.op, ()):
            name = inputs[index] if index < len(inputs) else None
            if name is None or not _quantisable(graph, name):
                continue
            fmt = kv_format if is_kv else act_format
            if (name, fmt) not in made:
                quantiser = _fake_quant(graph, name, fmt, calibration, unique_name(f"{name}.{fmt}", taken))
                taken.add(quantiser.name)
                made[name, fmt] = quantiser.name
                nodes.append(quantiser)
            inputs[index] = made[name, fmt]
        nodes.append(node if tuple(inputs) == node.inputs else Node(node.op, tuple(inputs), node.output, node.attrs))
    return graph.replace(nodes=nodes) if made else graph


def _quantisable(graph: Graph, name: str) -> bool:
    """A float activation not yet quantised: not a constant, not a fake_quant's output."""
    producer = graph.producer(name)
    already = producer is not None and producer.op in QUANTIZATION
    return graph.constant(name) is None and graph.value(name).type.dtype.is_float and not already


def _fake_quant(graph: Graph, name: str, fmt: str, calibration: Calibration | None, node_name: str) -> Node:
    attrs: dict[str, object] = dict(format=fmt, scale=None, granularity="token", zero_point=None)
    if calibration is not None:
        if name not in calibration.ranges:
            raise PassError(f"pass quantize_activations: calibration has no range for %{name}; "
                            "run calibrate right before this pass")
        grid = activation_format(fmt)
        scale, zero = grid.scales(*calibration.ranges[name])
        attrs.update(scale=float(scale), granularity="tensor", zero_point=int(zero) if grid.asymmetric else None)
    return Node(Op.FAKE_QUANT, (name,), Value(node_name, graph.value(name).type), attrs)


def _choose(option: str | None, default: str, allowed: tuple[str, ...], what: str, target: Accelerator) -> str:
    """The option or the default, checked to be an activation format the target runs."""
    name = option or default
    try:
        activation_format(name)
    except UnknownFormatError as err:
        raise PassError(f"pass quantize_activations: {what}: {err}") from None
    if name not in allowed:
        raise PassError(f"pass quantize_activations: {what} {name!r} is not a format target {target.name} runs "
                        f"({', '.join(allowed)})")
    return name


@graph_pass("quantize_activations", options=QuantizeActivationsOptions)
def quantize_activations_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Insert a fake_quant in front of every GEMM activation operand on integer-activation targets."""
    target = ctx.target
    if not needs_quantised_activations(target):
        return graph
    opts = ctx.options(QuantizeActivationsOptions)
    formats = target.formats
    widest = max(formats.activations, key=format_bits)
    act_format = _choose(opts.format, widest, tuple(formats.activations), "format", target)
    kv_allowed = tuple(dict.fromkeys((*formats.activations, formats.kv_cache)))
    kv_format = _choose(opts.kv_format, formats.kv_cache, kv_allowed, "kv_format", target)
    calibration = ctx.analyses.get(Calibration)
    granularity = opts.granularity or ("tensor" if calibration is not None else "token")
    if granularity == "tensor" and calibration is None:
        raise PassError("pass quantize_activations: granularity 'tensor' needs static ranges: run calibrate "
                        "earlier in the pipeline (with example inputs)")
    return quantize_activations(graph, act_format, kv_format, calibration if granularity == "tensor" else None)
