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
Calibrated with `sensitivity: fisher`, the weight is the model-output Fisher
diagonal instead, element by element: error = Σ (Q(w) − w)² · diag(JᵀJ), the
second-order estimate of how far the model's outputs move (`passes/fisher.py`).
Without calibration it is the plain squared error Σ (Q(w) − w)², which treats
every input channel as equally strong.

The budget (`Budget`) is one of four kinds, each a cost per (weight, candidate)
that adds up over weights:

- `bits`: average stored bits per weight, metadata included (Σ cost ≤ budget × Σ elements);
- `bytes`: the model's constant bytes: the quantised weights at their stored bits,
  plus every other constant (embeddings, norms, biases) at its dtype, a fixed part
  taken off the budget before the choice;
- `cycles`: the simulated cycles of the GEMMs that read each weight
  (`simulator.cost`, fast engine), a latency budget;
- `energy_pj`: their simulated energy in pJ, the components the target models
  (a target that leaves e.g. SRAM energy unpublished is budgeted without it).

Latency and energy add up over layers because the simulator runs layers one after
another; a weight read by several GEMMs is charged for all of them.
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
    budget: Budget | None = None
    spent: float = 0.0  # in the budget's unit


BudgetKind = Literal["bits", "bytes", "cycles", "energy_pj"]
_UNITS: dict[str, str] = {"bits": "bits/weight", "bytes": "bytes", "cycles": "cycles", "energy_pj": "pJ"}


@dataclass(frozen=True)
class Budget:
    """What an allocation must fit: `value` in the unit of `kind` (module docstring)."""

    kind: BudgetKind
    value: float

    def __post_init__(self) -> None:
        if self.kind not in _UNITS:
            raise PassError(f"pass allocate_bits: budget kind must be one of {', '.join(_UNITS)}, got {self.kind!r}")
        if not self.value > 0:
            raise PassError(f"pass allocate_bits: a {self.kind} budget must be positive, got {self.value:g}")

    @property
    def simulated(self) -> bool:
        """Whether costing this budget needs the simulator (and a target)."""
        return self.kind in ("cycles", "energy_pj")

    def describe(self, value: float | None = None) -> str:
        """`value` (default: the budget) with its unit, e.g. `3.5 bits/weight`, `1,234,567 cycles`."""
        if value is None:  # the budget as given; a computed value to four places
            figure = f"{self.value:g}" if self.kind == "bits" else f"{self.value:,.0f}"
        else:
            figure = f"{value:.4f}" if self.kind == "bits" else f"{value:,.0f}"
        return f"{figure} {_UNITS[self.kind]}"


def allocate_bits(graph: Graph, candidates: list[str], budget: Budget | float, *, method: str = "ilp",
                  group_size: int | None = 128, seed: int = 0, calibration: Calibration | None = None,
                  target: Accelerator | None = None) -> tuple[Graph, BitAllocation]:
    """Quantise each GEMM weight with the candidate the allocator picks within
    `budget` (a `Budget`, or a number: average bits per weight); errors are
    weighted by `calibration` when given (its Fisher diagonals if it has them, else
    its input second moments). Cycle and energy
    budgets are simulated on `target` (module docstring)."""
    budget = budget if isinstance(budget, Budget) else Budget("bits", float(budget))
    if budget.simulated and target is None:
        raise PassError(f"pass allocate_bits: a {budget.kind} budget needs an accelerator target to simulate on")
    if method not in ALLOCATORS:
        raise PassError(f"pass allocate_bits: method must be one of {', '.join(ALLOCATORS)}, got {method!r}")
    if not candidates:
        raise PassError("pass allocate_bits: needs at least one candidate scheme")
    weights = weight_operands(graph)
    if not weights:
        raise PassError(f"pass allocate_bits: graph {graph.name} has no GEMM weights")
    specs, errors, stored_bits = [], np.empty((len(weights), len(candidates))), np.empty((len(weights), len(candidates)))
    for i, (const, node, axis) in enumerate(weights):
        if const.data is None:
            raise PassError(f"pass allocate_bits: weight %{const.name} is shape-only; allocation needs weight data")
        sensitivity = 1.0 if calibration is None else calibration.sensitivity(const.name, "allocate_bits")
        w = const.data.astype(np.float64)
        row = []
        for j, scheme in enumerate(candidates):
            spec = quantize(const.data, scheme, group_size=group_size, axis=axis,
                            where=f"weight %{const.name} (of %{node.name})")
            errors[i, j] = float(np.sum(np.square(spec.dequantize() - w) * sensitivity))
            stored_bits[i, j] = const.type.numel * spec.bits_per_weight()
            row.append(spec)
        specs.append(row)
    elements = sum(const.type.numel for const, _, _ in weights)
    costs, fixed, scale = _costs(budget, graph, weights, specs, stored_bits, elements, target)
    cheapest = (float(costs.min(axis=1).sum()) + fixed) / scale
    if budget.value < cheapest * (1 - 1e-12):
        raise PassError(f"pass allocate_bits: budget {budget.describe()} is infeasible with {', '.join(candidates)}: "
                        f"the smallest feasible budget is {budget.describe(cheapest)}")
    kwargs = {"seed": seed} if method == "evolutionary" else {}
    chosen: Allocation = ALLOCATORS[method](errors, costs, budget.value * scale - fixed, **kwargs)
    replaced = {const.name: Constant(const.value, None, const.origin, specs[i][c])
                for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True))}
    layers = tuple(LayerChoice(const.name, const.type.numel, candidates[c], stored_bits[i, c] / const.type.numel,
                               float(errors[i, c]))
                   for i, ((const, _, _), c) in enumerate(zip(weights, chosen.choice, strict=True)))
    quantised = graph.replace(constants=tuple(replaced.get(c.name, c) for c in graph.constants))
    average_bits = sum(stored_bits[i, c] for i, c in enumerate(chosen.choice)) / elements
    return quantised, BitAllocation(layers, float(average_bits), chosen.error, budget, (chosen.cost + fixed) / scale)


def _costs(budget: Budget, graph: Graph, weights: list[tuple[Constant, Node, int]], specs: list[list[QuantSpec]],
           stored_bits: np.ndarray, elements: int, target: Accelerator | None) -> tuple[np.ndarray, float, float]:
    """The [weights, candidates] cost table of `budget`'s kind, the fixed cost no
    choice changes, and the factor from the budget's unit to the table's:
    an allocation fits when Σ cost + fixed ≤ budget × factor."""
    if budget.kind == "bits":
        return stored_bits, 0.0, float(elements)
    if budget.kind == "bytes":
        chosen = {const.name for const, _, _ in weights}
        fixed = sum(c.type.nbytes for c in graph.constants if c.name not in chosen)
        return stored_bits / 8, float(fixed), 1.0
    cycles, energy = _simulated_costs(graph, weights, specs, target)
    return (cycles if budget.kind == "cycles" else energy), 0.0, 1.0


def _simulated_costs(graph: Graph, weights: list[tuple[Constant, Node, int]], specs: list[list[QuantSpec]],
                     target: Accelerator) -> tuple[np.ndarray, np.ndarray]:
    """[weights, candidates] simulated cycles and energy (pJ) of the GEMMs that read
    each weight when it is in each candidate format (`simulator.cost.estimate`)."""
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        operand = WEIGHT_OPERANDS.get(node.op)
        if operand is not None and len(node.inputs) > operand[0]:
            readers.setdefault(node.inputs[operand[0]], []).append(node.name)
    phase = graph_phase(graph)
    index = {const.name: i for i, (const, _, _) in enumerate(weights)}
    cycles, energy = np.empty((len(weights), len(specs[0]))), np.empty((len(weights), len(specs[0])))
    for j in range(len(specs[0])):
        candidate = graph.replace(constants=tuple(
            Constant(c.value, None, c.origin, specs[index[c.name]][j]) if c.name in index else c
            for c in graph.constants))
        by_node = {p.name: p for p in workload(candidate, target)}
        for i, (const, _, _) in enumerate(weights):
            estimates = [estimate(by_node[name], target, phase=phase) for name in readers[const.name]]
            cycles[i, j] = sum(e.cycles for e in estimates)
            energy[i, j] = sum(e.energy_pj.total for e in estimates)
    return cycles, energy


class AllocateOptions(PassOptions):
    """`candidates` default to the target's weight formats. One budget (module
    docstring): `budget_bits` (average stored bits per weight, metadata included),
    `budget_bytes` (the model's constant bytes), `budget_cycles` or
    `budget_energy_pj` (the weight GEMMs' simulated cycles or energy on the target)."""

    budget_bits: float | None = None
    budget_bytes: int | None = None
    budget_cycles: int | None = None
    budget_energy_pj: float | None = None
    candidates: list[str] | None = None
    method: Literal["ilp", "greedy", "evolutionary"] = "ilp"
    group_size: int | None = None
    seed: int = 0

    def budget(self) -> Budget:
        given = {kind: getattr(self, f"budget_{kind}") for kind in _UNITS}
        set_ = {kind: value for kind, value in given.items() if value is not None}
        if len(set_) != 1:
            raise PassError("pass allocate_bits: set exactly one of "
                            + ", ".join(f"allocate_bits.budget_{kind}" for kind in _UNITS))
        (kind, value), = set_.items()
        return Budget(kind, float(value))


@graph_pass("allocate_bits", options=AllocateOptions)
def allocate_bits_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Choose a format per GEMM weight to meet a bits, bytes, latency or energy budget at least (calibrated) error."""
    opts = ctx.options(AllocateOptions)
    formats = getattr(ctx.target, "formats", None)
    candidates = opts.candidates or (list(formats.weights) if formats is not None else None)
    if not candidates:
        raise PassError("pass allocate_bits: no candidates set (allocate_bits.candidates) and no accelerator "
                        "target to take its weight formats from")
    group_size = opts.group_size or (formats.group_size if formats is not None else 128)
    target = ctx.target if isinstance(ctx.target, Accelerator) else None
    quantised, allocation = allocate_bits(graph, candidates, opts.budget(), method=opts.method,
                                          group_size=group_size, seed=opts.seed,
                                          calibration=ctx.analyses.get(Calibration), target=target)
    ctx.analyses.put(allocation)  # for reports: what the budget bought
    return quantised
