"""Bit allocation: the ILP is exact (checked against brute-force enumeration), the
greedy and evolutionary searches stay feasible and never beat it, and the pass
meets its budget on a real graph."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsmith.api import lower
from bitsmith.passes.allocate_bits import Budget, allocate_bits
from bitsmith.passes.base import PassError
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.search.allocation import (AllocationError, allocate_evolutionary, allocate_greedy,
                                               allocate_ilp)


def _brute_force(errors: np.ndarray, costs: np.ndarray, budget: float) -> float:
    best = np.inf
    for choice in itertools.product(range(errors.shape[1]), repeat=errors.shape[0]):
        rows = np.arange(len(choice))
        if costs[rows, choice].sum() <= budget:
            best = min(best, errors[rows, choice].sum())
    return best


@st.composite
def instances(draw):
    layers, options = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    errors = rng.random((layers, options)) * 10
    costs = rng.integers(1, 20, (layers, options)).astype(float)
    slack = draw(st.floats(0, 1))
    budget = costs.min(axis=1).sum() + slack * (costs.max(axis=1).sum() - costs.min(axis=1).sum())
    return errors, costs, budget


@settings(max_examples=60, deadline=None)
@given(instances())
def test_ilp_equals_brute_force_and_heuristics_are_feasible(instance) -> None:
    errors, costs, budget = instance
    exact = allocate_ilp(errors, costs, budget)
    assert exact.error == pytest.approx(_brute_force(errors, costs, budget), rel=1e-9, abs=1e-12)
    assert exact.cost <= budget + 1e-9
    for heuristic in (allocate_greedy(errors, costs, budget), allocate_evolutionary(errors, costs, budget, seed=3, generations=20)):
        assert heuristic.cost <= budget + 1e-9
        assert heuristic.error >= exact.error - 1e-9


def test_evolutionary_search_is_deterministic_per_seed() -> None:
    rng = np.random.default_rng(5)
    errors, costs = rng.random((30, 4)), rng.integers(1, 9, (30, 4)).astype(float)
    budget = costs.min(axis=1).sum() + 40
    a, b = (allocate_evolutionary(errors, costs, budget, seed=11) for _ in range(2))
    np.testing.assert_array_equal(a.choice, b.choice)


def test_infeasible_budget_names_the_smallest_feasible_one() -> None:
    with pytest.raises(AllocationError, match="smallest feasible budget is 3"):
        allocate_ilp(np.ones((3, 2)), np.array([[1.0, 2.0], [1.0, 5.0], [1.0, 1.0]]), 2.5)


@pytest.fixture(scope="module")
def mlp():
    return lower("mlp")


def test_pass_meets_the_budget_and_quantises_each_weight_with_its_choice(mlp) -> None:
    graph = mlp
    candidates = ["bitmod3", "bitmod4", "int8_sym"]
    quantised, allocation = allocate_bits(graph, candidates, 4.6, group_size=32)
    assert allocation.average_bits <= 4.6
    for layer in allocation.layers:
        assert quantised.constant(layer.name).quant.scheme == layer.scheme
    # more budget never costs accuracy, and the extremes are uniform
    _, richer = allocate_bits(graph, candidates, 6.0, group_size=32)
    assert richer.error <= allocation.error
    _, cheapest = allocate_bits(graph, candidates, 3.0 + 16 / 32, group_size=32)
    assert {layer.scheme for layer in cheapest.layers} == {"bitmod3"}


def test_pass_in_a_pipeline_and_its_errors(mlp) -> None:
    graph = mlp
    pipeline = Pipeline.of(["allocate_bits"], {"allocate_bits.budget_bits": 5.0, "allocate_bits.group_size": 32,
                                               "allocate_bits.candidates": ["int4_sym", "int8_sym"]})
    result = pipeline.run(graph)
    assert {c.quant.scheme for c in result.graph.constants if c.quant is not None} <= {"int4_sym", "int8_sym"}
    with pytest.raises(PassError, match=r"budget 3 bits/weight is infeasible with int4_sym, int8_sym: "
                                        r"the smallest feasible budget is 4\.5000 bits/weight"):
        allocate_bits(graph, ["int4_sym", "int8_sym"], 3.0, group_size=32)


def test_cycle_budget_is_met_by_the_simulated_weight_gemms() -> None:
    from bitsmith.simulator.simulate import simulate
    from bitsmith.targets import load_target

    target, graph = load_target("bitmod"), lower("llama-tiny")
    candidates = ["int8", "bitmod4", "bitmod3"]
    with pytest.raises(PassError, match=r"infeasible with int8, bitmod4, bitmod3: the smallest feasible budget is "
                                        r"[\d,]+ cycles"):
        allocate_bits(graph, candidates, Budget("cycles", 1), group_size=4, target=target)
    narrowest, fastest = allocate_bits(graph, ["bitmod3"], 100.0, group_size=4)  # every weight bitmod3
    floor_report = simulate(narrowest, target)
    floor = sum(floor_report.layer(layer.name.rsplit(".", 1)[0]).result.cycles for layer in fastest.layers)
    budget = int(floor * 1.1)
    quantised, allocation = allocate_bits(graph, candidates, Budget("cycles", budget), group_size=4, target=target)
    report = simulate(quantised, target)
    spent = sum(report.layer(layer.name.rsplit(".", 1)[0]).result.cycles for layer in allocation.layers)
    assert spent <= budget  # the simulator, run independently on the result, agrees with the allocator's costs
    assert {layer.scheme for layer in allocation.layers} != {"bitmod3"}  # the slack buys some wider weights
    assert allocation.error <= fastest.error


def _model_bytes(graph) -> float:
    """Every constant's stored bytes, counted independently of the allocator: a
    quantised weight at its spec's bits per weight, the rest at its dtype."""
    return sum(c.type.numel * c.quant.bits_per_weight() / 8 if c.quant is not None else c.type.nbytes
               for c in graph.constants)


def test_byte_budget_counts_the_whole_model(mlp) -> None:
    candidates = ["int4_sym", "int8_sym"]
    small, _ = allocate_bits(mlp, ["int4_sym"], 100.0, group_size=32)
    large, _ = allocate_bits(mlp, ["int8_sym"], 100.0, group_size=32)
    floor, ceiling = _model_bytes(small), _model_bytes(large)
    with pytest.raises(PassError, match=rf"budget {floor - 1:,.0f} bytes is infeasible with int4_sym, int8_sym: "
                                        rf"the smallest feasible budget is {floor:,.0f} bytes"):
        allocate_bits(mlp, candidates, Budget("bytes", floor - 1), group_size=32)
    middle = (floor + ceiling) / 2
    quantised, allocation = allocate_bits(mlp, candidates, Budget("bytes", middle), group_size=32)
    assert floor < _model_bytes(quantised) <= middle
    assert allocation.spent == pytest.approx(_model_bytes(quantised))


def test_energy_budget_is_met_by_the_simulated_weight_gemms() -> None:
    from bitsmith.simulator.simulate import simulate
    from bitsmith.targets import load_target

    target, graph = load_target("bitmod"), lower("llama-tiny")
    candidates = ["int8", "bitmod4", "bitmod3"]

    def gemm_energy(quantised, allocation) -> float:
        report = simulate(quantised, target)
        return sum(report.layer(layer.name.rsplit(".", 1)[0]).energy.total for layer in allocation.layers)

    narrowest, fastest = allocate_bits(graph, ["bitmod3"], 100.0, group_size=4)
    floor = gemm_energy(narrowest, fastest)
    with pytest.raises(PassError, match=r"the smallest feasible budget is [\d,]+ pJ"):
        allocate_bits(graph, candidates, Budget("energy_pj", floor / 2), group_size=4, target=target)
    budget = floor * 1.15
    quantised, allocation = allocate_bits(graph, candidates, Budget("energy_pj", budget), group_size=4, target=target)
    assert gemm_energy(quantised, allocation) <= budget * (1 + 1e-9)  # the simulator, run on the result, agrees
    assert {layer.scheme for layer in allocation.layers} != {"bitmod3"}
    assert allocation.error <= fastest.error


def test_budget_options_take_exactly_one_kind(mlp) -> None:
    with pytest.raises(PassError, match="set exactly one of allocate_bits.budget_bits"):
        Pipeline.of(["allocate_bits"], {"allocate_bits.budget_bits": 5.0, "allocate_bits.budget_bytes": 100,
                                        "allocate_bits.candidates": ["int8_sym"]}).run(mlp)
    with pytest.raises(PassError, match="an? energy_pj budget needs an accelerator target"):
        allocate_bits(mlp, ["int8_sym"], Budget("energy_pj", 1e6), group_size=32)
