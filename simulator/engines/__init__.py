"""bitsmith.simulator.engines: cost one layer problem on an accelerator target.

`simulate_layer(problem, target, phase=..., engine="fast"|"trace", mapping=None)`
maps a GEMM (mapping.py; a given mapping is checked the same way), plans its steps
(plan.py) and times the plan with the chosen engine: `trace` steps every cycle of
every unit (the definition), `fast` evaluates the same rules in closed form (tested
to agree with `trace` exactly). Vector problems run on the vector unit (vector.py).

`simulate_layers(problems, ...)` runs a graph's problems in order, one after
another, and gives each epilogue op the part of its GEMM's cycles that the chain's
earlier ops have not already hidden behind (vector.py states the rule), so a whole
chain overlaps its GEMM once, not once per op.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bitsmith.simulator.array import ArrayModel
from bitsmith.simulator.engines import fast, trace, vector
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.mapping import Mapping, check_mapping, choose_mapping
from bitsmith.simulator.memory import OperandBuffers
from bitsmith.simulator.plan import Plan, make_plan
from bitsmith.simulator.problem import GemmProblem, LayerResult, VectorProblem
from bitsmith.targets.accelerator import Accelerator

ENGINES = ("fast", "trace")


def plan_layer(problem: GemmProblem, target: Accelerator, *, phase: str = "prefill",
               mapping: Mapping | None = None) -> Plan:
    """The plan of `problem` on `target` in `phase`, under `mapping` or the default one."""
    array = ArrayModel.of(target, phase, problem.weight_bits, problem.act_bits)
    buffers = OperandBuffers.of(target, phase)
    if mapping is None:
        mapping = choose_mapping(problem, array, buffers, target.name)
    else:
        check_mapping(problem, array, buffers, mapping, target.name)
    return make_plan(problem, mapping, array, buffers, target.dram_bytes_per_cycle)


def simulate_layer(problem: GemmProblem | VectorProblem, target: Accelerator, *, phase: str = "prefill",
                   engine: str = "fast", mapping: Mapping | None = None,
                   sink: trace.EventSink | None = None) -> LayerResult:
    """Cycles, busy and stall cycles, actions and traffic of one layer. `sink`
    (trace engine only) receives the per-cycle timeline as run-length events."""
    if engine not in ENGINES:
        raise SimulationError(f"layer {problem.name}: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if sink is not None and engine != "trace":
        raise SimulationError(f"layer {problem.name}: only the trace engine streams a timeline")
    if isinstance(problem, VectorProblem):
        work = vector.VectorWork.of(problem, target)
        return vector.run_trace(work, sink) if engine == "trace" else vector.run_fast(work)
    try:
        plan = plan_layer(problem, target, phase=phase, mapping=mapping)
    except (ValueError, SimulationError) as error:
        if isinstance(error, SimulationError) and str(error).startswith(f"layer {problem.name}"):
            raise
        raise SimulationError(f"layer {problem.name}: {error}") from error
    return trace.run_gemm(plan, sink) if engine == "trace" else fast.run_gemm(plan)


def simulate_layers(problems: Iterable[GemmProblem | VectorProblem], target: Accelerator, *,
                    phase: str = "prefill", engine: str = "fast",
                    mappings: dict[str, Mapping] | None = None) -> list[tuple[GemmProblem | VectorProblem, LayerResult]]:
    """Each problem as run (epilogue ops with `hidden_cycles` filled in) and its
    result, in order; `mappings` gives a GEMM layer's mapping by name.

    GEMMs that differ only in their layer name are costed once: the engines are
    deterministic, and an LLM repeats its blocks (Llama-2-7B decode has 18
    distinct GEMM problems among 1,155 layers), which design-space exploration
    pays for at every point."""
    free: dict[str, int] = {}  # per GEMM: its cycles not yet hidden behind
    costed: dict[tuple[GemmProblem, Mapping | None], LayerResult] = {}  # by problem without its name
    done = []
    for problem in problems:
        if isinstance(problem, VectorProblem) and problem.fused_into is not None:
            problem = dataclasses.replace(problem, hidden_cycles=free.get(problem.fused_into, 0))
        layer_mapping = (mappings or {}).get(problem.name)
        if isinstance(problem, GemmProblem):
            key = (dataclasses.replace(problem, name=""), layer_mapping)
            if key not in costed:
                costed[key] = simulate_layer(problem, target, phase=phase, engine=engine, mapping=layer_mapping)
            result = dataclasses.replace(costed[key], name=problem.name)
        else:
            result = simulate_layer(problem, target, phase=phase, engine=engine, mapping=layer_mapping)
        if isinstance(problem, GemmProblem):
            free[problem.name] = result.cycles
        elif problem.fused_into is not None:
            free[problem.fused_into] = problem.hidden_cycles - result.hidden_cycles
        done.append((problem, result))
    return done


__all__ = ["ENGINES", "Mapping", "plan_layer", "simulate_layer", "simulate_layers"]
