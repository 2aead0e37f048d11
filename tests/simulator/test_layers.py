"""`Layers`: a problem list costed once per distinct problem gives, layer by
layer, what running every layer in order gives, epilogue chains included."""

from __future__ import annotations

import dataclasses

from bitsmith.simulator.engines import Layers, simulate_layer, simulate_layers
from bitsmith.simulator.problem import GemmProblem, VectorProblem
from bitsmith.targets import load_target


def test_repeated_gemms_with_epilogues_cost_as_every_layer() -> None:
    target = load_target("int8_systolic")
    problems = []
    for block in ("a", "b"):  # two identical blocks: GEMM, a fused relu and residual add, then a norm
        problems += [GemmProblem(f"{block}.fc", "linear", 64, 256, 128, "int8", 8, 8.0, act_bits=8),
                     VectorProblem(f"{block}.relu", "relu", 64 * 256, 1, 0.0, 0.0, fused_into=f"{block}.fc"),
                     VectorProblem(f"{block}.add", "add", 64 * 256, 1, 32768.0, 0.0, fused_into=f"{block}.fc"),
                     VectorProblem(f"{block}.norm", "rms_norm", 64 * 256, 4, 32768.0, 32768.0)]
    expected, free = [], {}
    for problem in problems:  # every layer on its own, an epilogue op given what its GEMM has left
        if isinstance(problem, VectorProblem) and problem.fused_into:
            problem = dataclasses.replace(problem, hidden_cycles=free[problem.fused_into])
        result = simulate_layer(problem, target)
        if isinstance(problem, GemmProblem):
            free[problem.name] = result.cycles
        elif problem.fused_into:
            free[problem.fused_into] -= result.hidden_cycles
        expected.append((problem, result))
    assert simulate_layers(problems, target) == expected
    assert [p.name for p, _ in Layers.of(problems).distinct] == ["a.fc", "a.relu", "a.add", "a.norm", "b.relu",
                                                                 "b.add"]
    assert any(r.hidden_cycles for _, r in expected)  # the chain does hide behind its GEMM
