"""A cheap cost estimate for passes and design-space exploration (DESIGN §6): one
layer problem, a whole graph, or a graph's `Layers` kept across targets, on the
fast engine, reduced to the three figures a pass compares.

Each distinct problem is costed, and its energy computed, once; the totals then
add every layer's figures in graph order, so they are the very floats that
costing every layer would give (a count times a figure would round differently)."""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.ir.graph import Graph
from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.engines import Layers
from bitsmith.simulator.problem import LayerProblem
from bitsmith.simulator.workload import graph_phase, workload
from bitsmith.targets.accelerator import Accelerator


@dataclass(frozen=True)
class CostEstimate:
    cycles: int
    dram_bytes: float
    energy_pj: Breakdown


def estimate(work: Graph | LayerProblem | Layers, target: Accelerator, *, phase: str | None = None) -> CostEstimate:
    """Cycles, DRAM bytes and energy of `work` on `target` by the fast engine;
    `phase` None takes a graph's own phase, and "prefill" for problems alone."""
    if isinstance(work, Graph):
        layers, phase = Layers.of(workload(work, target)), phase or graph_phase(work)
    else:
        layers, phase = work if isinstance(work, Layers) else Layers.of([work]), phase or "prefill"
    results = [result for _, result in layers.run(target, phase=phase)]
    energies = [layer_energy(result, target) for result in results]
    return CostEstimate(sum(results[i].cycles for i in layers.order),
                        sum(results[i].dram_bytes for i in layers.order),
                        Breakdown.combine(energies[i] for i in layers.order))
