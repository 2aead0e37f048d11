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
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.calibrate import Calibration
from bitsmith.passes.quantize_weights import WEIGHT_OPERANDS, weight_operands
from bitsmith.passes.search.allocation import Allocation, allocate_evolutionary, allocate_greedy, allocate_ilp
from bitsmith.simulator.cost import estimate
from bitsmith.simulator.workload import graph_phase, workload
from bitsmith.targets.accelerator import Accelerator

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


def allocate_bits(graph: Graph, candidates: list[str], budget_bits: float | None = None, *, method: str = "ilp",
                  group_size: int | None = 128, seed: int = 0, calibration: Calibration | None = None,
                  budget_cycles: int | None = None, target: Accelerator | None = None
                  ) -> tuple[Graph, BitAllocation]:
    """Quantise each GEMM weight with the candidate the allocator picks; errors are
    weighted by `calibration`'s input second moments when given. The budget is
    `budget_bits` (average stored bits per weight) or `budget_cycles` (the weight
    GEMMs' simulated cycles on `target`, `simulator.cost`) (module docstring)."""
    if (budget_bits is None) == (budget_cycles is None):
        raise PassError("pass allocate_bits: give exactly one budget, budget_bits or budget_cycles")
    if budget_cycles is not None and target is None:
        raise PassError("pass allocate_bits: a cycle budget needs an accelerator target to simulate on")
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
    kwargs = {"seed": seed} if method == "evolutionary" else {}
    if budget_cycles is not None:
        cycles = _cycle_costs(graph, weights, specs, target)
        smallest_cycles = int(cycles.min(axis=1).sum())
        if budget_cycles < smallest_cycles:
            raise PassError(f"pass allocate_bits: budget {budget_cycles:,} cycles is infeasible with "
                            f"{', '.join(candidates)}: the smallest feasible budget is {smallest_cycles:,} cycles")
        chosen: Allocation = ALLOCATORS[method](errors, cycles, budget_cycles, **kwargs)
    else:
        smallest = float(costs.min(axis=1).sum()) / elements
        if budget_bits < smallest:
            raise PassError(f"pass allocate_bits: budget {budget_bits:g} bits/weight is infeasible with "
                            f"{', '.join(candidates)}: the smallest feasible budget is {smallest:.4f} bits/weight")
        chosen = ALLOCATORS[method](errors, costs, budget_bits * elements, **kwargs)
    replaced = {const.name: Constant(const.value, None, const.origin, specs[i][c])
                for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True))}
    layers = tuple(LayerChoice(const.name, const.type.numel, candidates[c], costs[i, c] / const.type.numel,
                               float(errors[i, c]))
                   for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True)))
    quantised = graph.replace(constants=tuple(replaced.get(c.name, c) for c in graph.constants))
    average_bits = sum(costs[i, c] for i, c in enumerate(chosen.choice)) / elements
    return quantised, BitAllocation(layers, float(average_bits), chosen.error)


def _cycle_costs(graph: Graph, weights: list[tuple[Constant, Node, int]], specs: list[list[QuantSpec]],
                 target: Accelerator) -> np.ndarray:
    """[weights, candidates] simulated cycles of the GEMMs that read each weight
    when it is in each candidate format (`simulator.cost.estimate`, fast engine)."""
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        operand = WEIGHT_OPERANDS.get(node.op)
        if operand is not None and len(node.inputs) > operand[0]:
            readers.setdefault(node.inputs[operand[0]], []).append(node.name)
    phase = graph_phase(graph)
    index = {const.name: i for i, (const, _, _) in enumerate(weights)}
    cycles = np.empty((len(weights), len(specs[0])))
    for j in range(len(specs[0])):
        candidate = graph.replace(constants=tuple(
            Constant(c.value, None, c.origin, specs[index[c.name]][j]) if c.name in index else c
            for c in graph.constants))
        by_node = {p.name: p for p in workload(candidate, target)}
        for i, (const, _, _) in enumerate(weights):
            cycles[i, j] = sum(estimate(by_node[name], target, phase=phase).cycles for name in readers[const.name])
    return cycles


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
    """`candidates` default to the target's weight formats. One budget: `budget_bits`,
    the average stored bits per weight (metadata included), or `budget_cycles`, the
    weight GEMMs' simulated cycles on the target."""

    budget_bits: float | None = None
    budget_cycles: int | None = None
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
    target = ctx.target if isinstance(ctx.target, Accelerator) else None
    quantised, _ = allocate_bits(graph, candidates, opts.budget_bits, method=opts.method, group_size=group_size,
                                 seed=opts.seed, calibration=ctx.analyses.get(Calibration),
                                 budget_cycles=opts.budget_cycles, target=target)
    return quantised
