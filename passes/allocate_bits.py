"""Mixed precision across layers: give each GEMM weight one of several formats so
the average stored bits per weight meet a budget at the least total error.

For every quantisable weight (`quantize_weights.weight_operands`) and every
candidate scheme, the weight is quantised and scored; cost = its elements × bits
per weight with metadata (`QuantSpec.bits_per_weight`). The choice is then a
multiple-choice knapsack solved by `passes/search/allocation.py` (exact ILP by
default; greedy or evolutionary on request). The budget is an average:
Σ cost ≤ budget_bits × Σ elements.

The error is sensitivity-weighted when the calibrate pass ran earlier in the
pipeline: error = Σ_n Σ_k (Q(w) − w)²_{n,k} · E[x_k²], the expected squared output
error of the layer per output row (`passes/calibrate.py`), so a weight fed by
large activations is kept at more bits than one whose inputs are small, and
errors in different layers are compared in the units the model's outputs feel.
Without calibration it is the plain squared error Σ (Q(w) − w)², which treats
every input channel as equally strong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.graph import Constant, Graph
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.calibrate import Calibration
from bitsmith.passes.quantize_weights import weight_operands
from bitsmith.passes.search.allocation import Allocation, allocate_evolutionary, allocate_greedy, allocate_ilp

ALLOCATORS = {"ilp": allocate_ilp, "greedy": allocate_greedy, "evolutionary": allocate_evolutionary}


@dataclass(frozen=True)
class LayerChoice:
    """One weight's allocation: the scheme chosen, its bits per weight and error."""

    name: str
    elements: int
    scheme: str
    bits_per_weight: float
    error: float


@dataclass(frozen=True)
class BitAllocation:
    layers: tuple[LayerChoice, ...]
    average_bits: float
    error: float


def allocate_bits(graph: Graph, candidates: list[str], budget_bits: float, *, method: str = "ilp",
                  group_size: int | None = 128, seed: int = 0,
                  calibration: Calibration | None = None) -> tuple[Graph, BitAllocation]:
    """Quantise each GEMM weight with the candidate the allocator picks; errors are
    weighted by `calibration`'s input second moments when given (module docstring)."""
    if method not in ALLOCATORS:
        raise PassError(f"pass allocate_bits: method must be one of {', '.join(ALLOCATORS)}, got {method!r}")
    if not candidates:
        raise PassError("pass allocate_bits: needs at least one candidate scheme")
    weights = weight_operands(graph)
    if not weights:
        raise PassError(f"pass allocate_bits: graph {graph.name} has no GEMM weights")
    specs, errors, costs = [], np.empty((len(weights), len(candidates))), np.empty((len(weights), len(candidates)))
    for i, (const, node, axis) in enumerate(weights):
        if const.data is None:
            raise PassError(f"pass allocate_bits: weight %{const.name} is shape-only; allocation needs weight data")
        sensitivity = _sensitivity(calibration, const.name)
        w = const.data.astype(np.float64)
        row = []
        for j, scheme in enumerate(candidates):
            spec = quantize(const.data, scheme, group_size=group_size, axis=axis,
                            where=f"weight %{const.name} (of %{node.name})")
            errors[i, j] = float(np.sum(np.square(spec.dequantize() - w) * sensitivity))
            costs[i, j] = const.type.numel * spec.bits_per_weight()
            row.append(spec)
        specs.append(row)
    elements = sum(const.type.numel for const, _, _ in weights)
    smallest = float(costs.min(axis=1).sum()) / elements
    if budget_bits < smallest:
        raise PassError(f"pass allocate_bits: budget {budget_bits:g} bits/weight is infeasible with "
                        f"{', '.join(candidates)}: the smallest feasible budget is {smallest:.4f} bits/weight")
    kwargs = {"seed": seed} if method == "evolutionary" else {}
    chosen: Allocation = ALLOCATORS[method](errors, costs, budget_bits * elements, **kwargs)
    replaced = {const.name: Constant(const.value, None, const.origin, specs[i][c])
                for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True))}
    layers = tuple(LayerChoice(const.name, const.type.numel, candidates[c], costs[i, c] / const.type.numel,
                               float(errors[i, c]))
                   for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True)))
    quantised = graph.replace(constants=tuple(replaced.get(c.name, c) for c in graph.constants))
    return quantised, BitAllocation(layers, chosen.cost / elements, chosen.error)


def _sensitivity(calibration: Calibration | None, weight: str) -> np.ndarray | float:
    """What each squared weight error is multiplied by: E[x²] of the weight's inputs,
    or 1 without calibration."""
    if calibration is None:
        return 1.0
    moment = calibration.input_second_moment.get(weight)
    if moment is None:
        raise PassError(f"pass allocate_bits: the calibration has no statistics for weight %{weight}; "
                        "was it calibrated on another graph?")
    return moment


class AllocateOptions(PassOptions):
    """`candidates` default to the target's weight formats; `budget_bits` is the
    average stored bits per weight, metadata included."""

    budget_bits: float
    candidates: list[str] | None = None
    method: Literal["ilp", "greedy", "evolutionary"] = "ilp"
    group_size: int | None = None
    seed: int = 0


@graph_pass("allocate_bits", options=AllocateOptions)
def allocate_bits_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Choose a format per GEMM weight to meet an average-bits budget at least (calibrated) error."""
    opts = ctx.options(AllocateOptions)
    formats = getattr(ctx.target, "formats", None)
    candidates = opts.candidates or (list(formats.weights) if formats is not None else None)
    if not candidates:
        raise PassError("pass allocate_bits: no candidates set (allocate_bits.candidates) and no accelerator "
                        "target to take its weight formats from")
    group_size = opts.group_size or (formats.group_size if formats is not None else 128)
    quantised, _ = allocate_bits(graph, candidates, opts.budget_bits, method=opts.method, group_size=group_size,
                                 seed=opts.seed, calibration=ctx.analyses.get(Calibration))
    return quantised
