"""Quantise a graph's GEMM weights with one scheme: the whole-model form of
`ir.formats.quantize`, used by `bitsmith quantize` and the accuracy benchmark.

Which weights: parameter constants read as the weight operand of a GEMM-like op —
`linear` (`[N, K]`, groups along K, axis -1), `conv2d` (`[O, C, kh, kw]`, groups
along C, axis 1) and a constant right operand of `matmul` (`[..., K, N]`, axis -2).
Groups always run along the reduction axis, so one group's scale multiplies one
partial sum, as the bit-serial and LUT engines apply it. Embedding tables, norms
and biases stay in floating point (BitMoD quantises the linear layers only).

A weight whose reduction axis the group size does not divide is an error naming
the tensor (pick a group size that divides it, or `granularity="channel"`): no
padding, no silent fallback. Shape-only weights get a shape-only spec, so a large
model's bits are known for costing without materialising it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bitsmith.ir.dtypes import dtype
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.schemes import scheme_names, shape_only_spec
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.graph import Constant, Graph, Node, Value
from bitsmith.ir.ops import Op
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass

# Which operand of which op is a weight, and the axis its groups run along.
WEIGHT_OPERANDS: dict[Op, tuple[int, int]] = {Op.LINEAR: (1, -1), Op.CONV2D: (1, 1), Op.MATMUL: (1, -2)}


@dataclass(frozen=True)
class WeightReport:
    """What quantising one weight did. Error figures are None for a shape-only weight."""

    name: str
    layer: str  # the first node that reads it
    shape: tuple[int, ...]
    spec: QuantSpec = field(repr=False)
    bits_per_weight: float
    sqnr_db: float | None
    relative_rms_error: float | None  # ||Q(w) - w|| / ||w||
    max_abs_error: float | None
    format_counts: dict[str, int]  # groups per format (mixtures)
    outliers: int


def weight_operands(graph: Graph) -> list[tuple[Constant, Node, int]]:
    """(constant, first reader, group axis) for every quantisable weight, in graph order."""
    found: dict[str, tuple[Constant, Node, int]] = {}
    for node in graph.nodes:
        operand = WEIGHT_OPERANDS.get(node.op)
        if operand is None or len(node.inputs) <= operand[0]:
            continue
        const = graph.constant(node.inputs[operand[0]])
        if const is not None and const.origin == "parameter" and const.type.dtype.is_float and const.name not in found:
            found[const.name] = (const, node, operand[1])
    return list(found.values())


def quantize_weights(
    graph: Graph,
    scheme: str,
    *,
    group_size: int | None = 128,
    granularity: str = "group",
    scale_rule: str | None = None,
    asymmetric: bool = False,
    clip_search: bool = False,
    scale_bits: int | None = None,
) -> tuple[Graph, list[WeightReport]]:
    """A copy of `graph` whose GEMM weights carry `QuantSpec`s, and a report per weight."""
    options = dict(group_size=group_size, granularity=granularity, scale_rule=scale_rule,
                   asymmetric=asymmetric, scale_bits=scale_bits)
    replaced: dict[str, Constant] = {}
    reports = []
    for const, node, axis in weight_operands(graph):
        where = f"weight %{const.name} (of %{node.name})"
        if const.data is None:
            spec = shape_only_spec(const.type.shape, scheme, axis=axis, where=where, **options)
        else:
            spec = quantize(const.data, scheme, axis=axis, clip_search=clip_search, where=where, **options)
        new = Constant(const.value, None, const.origin, spec)
        replaced[const.name] = new
        reports.append(weight_report(const, new, node))
    constants = tuple(replaced.get(c.name, c) for c in graph.constants)
    return graph.replace(constants=constants), reports


def store_weights(graph: Graph, scheme: str, *, group_size: int | None = 128, granularity: str = "group",
                  **options: object) -> Graph:
    """`graph` with its GEMM weights in `scheme`: a quantisation scheme (`quantize_weights`)
    or a wide float type the datapath takes as it is (`f16`: a float MAC array's
    weights are cast, not quantised). A wide integer type (`i16`) has no quantiser:
    that is a one-line error asking for a format."""
    if scheme in scheme_names():
        return quantize_weights(graph, scheme, group_size=group_size, granularity=granularity, **options)[0]
    try:
        wide = dtype(scheme)
    except KeyError:
        raise PassError(f"unknown weight format {scheme!r} (see `bitsmith formats`)") from None
    if not wide.is_float:
        raise PassError(f"weight format {scheme} is a wide integer type with no quantiser; "
                        "give a format (--format) such as int8")
    cast = {const.name: Constant(Value(const.name, dataclasses.replace(const.type, dtype=wide)),
                                 None if const.data is None else const.data.astype(wide.to_numpy()), const.origin)
            for const, _, _ in weight_operands(graph) if const.type.dtype != wide}
    if not cast:
        return graph
    return graph.replace(constants=tuple(cast.get(c.name, c) for c in graph.constants))


def weight_report(original: Constant, quantised: Constant, node: Node) -> WeightReport:
    """What quantising `original` into `quantised` (read by `node`) did: errors, bits, format use."""
    spec = quantised.quant
    sqnr = rel = max_err = None
    counts: Counter[str] = Counter()
    outliers = 0
    if not spec.shape_only:
        w = original.data.astype(np.float64)
        err = spec.dequantize() - w
        signal, noise = float(np.sum(w * w)), float(np.sum(err * err))
        sqnr = math.inf if noise == 0 else 10 * math.log10(signal / noise) if signal > 0 else -math.inf
        rel = math.sqrt(noise / signal) if signal > 0 else 0.0
        max_err = float(np.max(np.abs(err)))
        ids, n = np.unique(spec.format_ids, return_counts=True)
        counts.update({spec.formats[i]: int(c) for i, c in zip(ids, n, strict=True)})
        outliers = 0 if spec.outlier_index is None else int(spec.outlier_index.size)
    return WeightReport(original.name, node.name, original.type.shape, spec, spec.bits_per_weight(), sqnr, rel,
                        max_err, dict(counts), outliers)


class QuantizeOptions(PassOptions):
    """`scheme` and `group_size` default to the target's `formats.default_weights`
    and `formats.group_size`."""

    scheme: str | None = None
    group_size: int | None = None
    granularity: Literal["group", "channel", "tensor"] = "group"
    asymmetric: bool = False
    clip_search: bool = False
    scale_bits: int | None = None


@graph_pass("quantize_weights", options=QuantizeOptions)
def quantize_weights_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Quantise every GEMM weight with one scheme (the target's default unless set); a
    float datapath's wide type (f16) casts them instead."""
    opts = ctx.options(QuantizeOptions)
    formats = getattr(ctx.target, "formats", None)
    scheme = opts.scheme or (formats.default_weights if formats is not None else None)
    if scheme is None:
        raise PassError("pass quantize_weights: no scheme set (quantize_weights.scheme) and no accelerator target "
                        "to take its default from")
    group_size = opts.group_size or (formats.group_size if formats is not None else 128)
    return store_weights(graph, scheme, group_size=group_size, granularity=opts.granularity,
                         asymmetric=opts.asymmetric, clip_search=opts.clip_search, scale_bits=opts.scale_bits)
