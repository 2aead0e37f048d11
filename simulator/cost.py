"""A cheap cost estimate for passes (DESIGN §6): one layer problem, or a whole
graph, on the fast engine, reduced to the three figures a pass compares."""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.ir.graph import Graph
from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.engines import simulate_layers
from bitsmith.simulator.problem import LayerProblem
from bitsmith.simulator.workload import graph_phase, workload
from bitsmith.targets.accelerator import Accelerator


@dataclass(frozen=True)
class CostEstimate:
    cycles: int
    dram_bytes: float
    energy_pj: Breakdown


def estimate(work: Graph | LayerProblem, target: Accelerator, *, phase: str | None = None) -> CostEstimate:
    """Cycles, DRAM bytes and energy of `work` on `target` by the fast engine;
    `phase` None takes a graph's own phase, and "prefill" for a lone problem."""
    if isinstance(work, Graph):
        problems, phase = workload(work, target), phase or graph_phase(work)
    else:
        problems, phase = [work], phase or "prefill"
    results = [result for _, result in simulate_layers(problems, target, phase=phase)]
    return CostEstimate(sum(r.cycles for r in results), sum(r.dram_bytes for r in results),
                        Breakdown.combine(layer_energy(r, target) for r in results))
