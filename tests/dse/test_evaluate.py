"""A point's figures are the ones costing every layer from scratch gives, to the
last bit: the sweep builds a quantisation choice's layer problems once per target
formats, costs each distinct problem once and adds up per layer
(dse/evaluate.py, simulator/cost.py). The reference here is the plain definition:
the point's target, `workload` rebuilt, every layer run on its own by the fast
engine, its energy, and the sums in graph order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsmith.dse import Space, load_sweep
from bitsmith.dse.evaluate import Task, evaluate_batch, quantise
from bitsmith.dse.execute import lowered_workloads
from bitsmith.dse.space import point_target
from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.problem import VectorProblem
from bitsmith.simulator.workload import graph_phase, workload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dse"


def _from_scratch(space: Space, graph, config: dict[str, object]) -> tuple[float, float]:
    """(latency_s, energy_j) of one point, every layer costed on its own."""
    quantised = quantise(graph, list(config["formats"]), config["group_size"], config["bit_budget"],
                         space.sweep.spec.accuracy)[0]
    target = point_target(space.sweep.base, config)
    problems = workload(quantised, target)
    assert not any(isinstance(p, VectorProblem) and p.fused_into for p in problems)  # no epilogue to hide
    results = [simulate_layer(p, target, phase=graph_phase(quantised)) for p in problems]
    energy = Breakdown.combine(layer_energy(r, target) for r in results)
    return sum(r.cycles for r in results) / target.clock_hz, energy.total * 1e-12


@pytest.mark.parametrize("sweep, stride", [("llama_tiny_codesign.yaml", 97), ("llama2_7b_decode.yaml", 61)])
def test_figures_equal_costing_every_layer(sweep: str, stride: int) -> None:
    loaded = load_sweep(EXAMPLES / sweep)
    space = Space(loaded)
    (graph,) = lowered_workloads(loaded.spec)
    # Points spread over the grid: hardware varies under one quantisation choice and across them,
    # so later points reuse the worker's cached problems.
    configs = [space.config(g) for g in list(space.grid())[::stride][:12]]
    outcomes = evaluate_batch(Task(space.context, (graph,), tuple((space.point_hash(c), c) for c in configs)))
    compared = 0
    for config, outcome in zip(configs, outcomes, strict=True):
        if outcome.ok:
            assert (outcome.figures["latency_s"], outcome.figures["energy_j"]) == _from_scratch(space, graph, config)
            compared += 1
    assert compared >= 6
