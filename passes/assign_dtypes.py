"""Per-group datatypes: give each weight group the element format, from the
target's supported set at one bit width, with the least (weighted) error.

This is BitMoD's per-group mixture (FACTS §1.1: every group of 128 tries each
candidate grid with its own absmax scale and keeps the least squared error)
generalised to any element formats of one width, so one search serves BitMoD's
FP4 variants, ANT's int/flint pair, or INT4 + FP4 + NF4 on a target that decodes
them all.

Candidates. `assign_dtypes.candidates` (element formats; a mixture such as
`bitmod4` stands for its members), or by default every element format the
target's weight schemes are made of at `bits` (`Formats.weight_elements`):
bitmod at 4 bits gives bitmod4's four members, ant gives int4_sym and flint4.
`bits` defaults to the candidates' width, else to the width of the target's
default weight format.

Per group or per weight. A group may pick its own format only where the weight
decoder reads a per-group format id (`Formats.mixes_per_group`: the target lists
a mixture, as bitmod and ant do; LUT and INT-only arrays do not); `per_group`
overrides the target. Per group, the weight becomes one mixture spec (the named
mixture when the candidates are exactly one, e.g. `bitmod4`, else the `+`-joined
name `int4_sym+fp4_e2m1+nf4`, whose per-group selector `bits_per_weight` charges).
Per weight, every candidate quantises the whole weight and the least total error
wins: one format, no selector.

Error. Plain squared error Σ (Q(w) − w)², or, when the calibrate pass ran, each
squared error times the weight's sensitivity (`sensitivity`, as `allocate_bits`
weighs it): the element's Fisher diagonal when calibrated with `sensitivity:
fisher`, else E[x_k²] of its input channel, the layer-output proxy. Each
group minimises its own term and the uniform quantisations use the very same
scales, so the assigned weight's total error is at most that of any single
candidate used for every group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bitsmith.ir.formats import UnknownFormatError, get_format
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.schemes import QuantizationError, mixture_name, resolve_scheme, shape_only_spec
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.calibrate import Calibration
from bitsmith.passes.quantize_weights import WeightReport, weight_operands, weight_report
from bitsmith.targets.accelerator import Formats
from bitsmith.targets.fields import format_bits


def assign_dtypes(graph: Graph, candidates: Sequence[str], *, group_size: int | None = 128, per_group: bool = True,
                  calibration: Calibration | None = None) -> tuple[Graph, list[WeightReport]]:
    """A copy of `graph` whose GEMM weights carry the least-error choice among
    `candidates` (element formats of one width; a mixture stands for its members),
    per group or per weight, errors weighted by `calibration` when given (module
    docstring); and a report per weight."""
    candidates = resolve_candidates(candidates)
    replaced: dict[str, Constant] = {}
    reports = []
    for const, node, axis in weight_operands(graph):
        importance = None if calibration is None else calibration.sensitivity(const.name, "assign_dtypes")
        spec = _assign(const, node, axis, candidates, group_size, per_group, importance)
        new = Constant(const.value, None, const.origin, spec)
        replaced[const.name] = new
        reports.append(weight_report(const, new, node))
    return graph.replace(constants=tuple(replaced.get(c.name, c) for c in graph.constants)), reports


def _assign(const: Constant, node: Node, axis: int, candidates: tuple[str, ...], group_size: int | None,
            per_group: bool, importance: np.ndarray | None) -> QuantSpec:
    """One weight's spec: the per-group mixture, or the best single candidate."""
    where = f"weight %{const.name} (of %{node.name})"
    scheme = mixture_name(candidates) if per_group else candidates[0]
    try:
        if const.data is None:
            if not per_group and len(candidates) > 1:
                raise PassError(f"pass assign_dtypes: {where} is shape-only; choosing one of "
                                f"{', '.join(candidates)} per weight needs its data")
            return shape_only_spec(const.type.shape, scheme, group_size=group_size, axis=axis, where=where)
        if per_group:
            return quantize(const.data, scheme, group_size=group_size, axis=axis, importance=importance, where=where)
        specs = [quantize(const.data, name, group_size=group_size, axis=axis, where=where) for name in candidates]
    except QuantizationError as err:
        raise PassError(f"pass assign_dtypes: {err}") from None
    w = const.data.astype(np.float64)
    errors = [weighted_error(spec, w, importance) for spec in specs]
    return specs[int(np.argmin(errors))]  # the first of equals


def weighted_error(spec: QuantSpec, w: np.ndarray, importance: np.ndarray | None) -> float:
    """Σ importance · (Q(w) − w)², or the plain squared error without importance."""
    square = np.square(spec.dequantize() - w)
    return float(np.sum(square if importance is None else square * importance))


def target_candidates(formats: Formats, bits: int | None, target: str) -> tuple[str, ...]:
    """The target's element formats at `bits` (default: its default weight format's
    width); a one-line PassError naming the widths it offers when there are none."""
    width = bits or format_bits(formats.default_weights)
    offered = formats.weight_elements
    chosen = tuple(name for name in offered if get_format(name).bits == width)
    if not chosen:
        widths = ", ".join(str(b) for b in sorted({get_format(name).bits for name in offered})) or "no"
        raise PassError(f"pass assign_dtypes: target {target} has no {width}-bit weight format to assign; "
                        f"it offers {widths} bits (weights: {', '.join(formats.weights)})")
    return chosen


def resolve_candidates(names: Sequence[str], bits: int | None = None) -> tuple[str, ...]:
    """`names` as element formats of one width (`bits`, default theirs), mixtures
    expanded to their members; one-line PassErrors for an unknown or unusable
    candidate and for mixed widths."""
    expanded: dict[str, None] = {}
    for name in names:
        try:
            scheme = resolve_scheme(name, where=f"pass assign_dtypes: candidate {name!r}")
        except UnknownFormatError:
            raise PassError(f"pass assign_dtypes: unknown candidate format {name!r} "
                            "(element formats and mixtures: `bitsmith formats`)") from None
        unsigned = any(not get_format(m).signed for m in scheme.formats)
        if scheme.scale_rule != "absmax" or unsigned:
            reason = "unsigned, it needs a zero point" if unsigned else f"it scales by {scheme.scale_rule}"
            raise PassError(f"pass assign_dtypes: candidate {name!r} cannot be chosen per group under an absmax "
                            f"scale ({reason})")
        expanded.update(dict.fromkeys(scheme.formats))
    if not expanded:
        raise PassError("pass assign_dtypes: assign_dtypes.candidates is empty")
    widths = {name: get_format(name).bits for name in expanded}
    listed = ", ".join(f"{name} {b}" for name, b in widths.items())
    if bits is None and len(set(widths.values())) > 1:
        raise PassError(f"pass assign_dtypes: candidates must share one element width, got bits {listed}")
    if bits is not None and set(widths.values()) != {bits}:
        raise PassError(f"pass assign_dtypes: candidates must all be {bits}-bit (assign_dtypes.bits), "
                        f"got bits {listed}")
    return tuple(expanded)


class AssignOptions(PassOptions):
    """`bits`: the element width to assign at (default: the candidates', else the
    target's default weight format's). `candidates`: element formats (default: the
    target's at `bits`). `group_size`: default the target's. `per_group`: None lets
    the target decide (`Formats.mixes_per_group`)."""

    bits: int | None = None
    candidates: list[str] | None = None
    group_size: int | None = None
    per_group: bool | None = None


@graph_pass("assign_dtypes", options=AssignOptions)
def assign_dtypes_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Give each weight group the least-error format among the target's at one bit width."""
    opts = ctx.options(AssignOptions)
    formats: Formats | None = getattr(ctx.target, "formats", None)
    if opts.candidates is not None:
        candidates = resolve_candidates(opts.candidates, opts.bits)
    elif formats is not None:
        candidates = target_candidates(formats, opts.bits, ctx.target.name)
    else:
        raise PassError("pass assign_dtypes: no candidates set (assign_dtypes.candidates) and no accelerator "
                        "target to take its weight formats from")
    group_size = opts.group_size or (formats.group_size if formats is not None else 128)
    per_group = opts.per_group if opts.per_group is not None else formats is None or formats.mixes_per_group
    assigned, _ = assign_dtypes(graph, candidates, group_size=group_size, per_group=per_group,
                                calibration=ctx.analyses.get(Calibration))
    return assigned
