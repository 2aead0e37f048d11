"""bitsmith.simulator.engines: cost one layer problem on an accelerator target.

`simulate_layer(problem, target, phase=..., engine="fast"|"trace", mapping=None)`
maps a GEMM (mapping.py; a given mapping is checked the same way), plans its steps
(plan.py) and times the plan with the chosen engine: `trace` steps every cycle of
every unit (the definition), `fast` evaluates the same rules in closed form (tested
to agree with `trace` exactly). Vector problems run on the vector unit (vector.py).

`simulate_layers(problems, ...)` runs a graph's problems in order, one after
another, and gives each epilogue op the part of its GEMM's cycles that the chain's
earlier ops have not already hidden behind (vector.py states the rule), so a whole
chain overlaps its GEMM once, not once per op. It costs each distinct problem once
(`Layers`, which a caller costing one graph on many targets can keep).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Layers:
    """A graph's problems in order, as the distinct problems the engines cost and,
    per layer, which one it is.

    Layers that differ only in their name (under the same given mapping) are one
    problem: the engines are deterministic, and an LLM repeats its blocks
    (Llama-2-7B decode has 18 distinct problems among 1,155 layers), which
    design-space exploration pays for at every point. An epilogue op is never
    merged: what it hides behind depends on its own GEMM's run and on the chain's
    earlier ops (vector.py), so each is its own problem, costed in order."""

    problems: tuple[GemmProblem | VectorProblem, ...]  # per layer, in order
    distinct: tuple[tuple[GemmProblem | VectorProblem, Mapping | None], ...]  # first of each, and its mapping
    order: tuple[int, ...]  # per layer, its index into `distinct`

    @classmethod
    def of(cls, problems: Iterable[GemmProblem | VectorProblem],
           mappings: dict[str, Mapping] | None = None) -> Layers:
        problems = tuple(problems)
        index: dict[object, int] = {}
        distinct, order = [], []
        for problem in problems:
            layer_mapping = (mappings or {}).get(problem.name)
            fused = isinstance(problem, VectorProblem) and problem.fused_into is not None
            key = problem if fused else (dataclasses.replace(problem, name=""), layer_mapping)
            if key not in index:
                index[key] = len(distinct)
                distinct.append((problem, layer_mapping))
            order.append(index[key])
        return cls(problems, tuple(distinct), tuple(order))

    def run(self, target: Accelerator, *, phase: str = "prefill",
            engine: str = "fast") -> list[tuple[GemmProblem | VectorProblem, LayerResult]]:
        """Each distinct problem as run (an epilogue op with `hidden_cycles` filled
        in) and its result, named after its first layer, in `distinct` order;
        an error names the first layer that hits it, as running every layer would."""
        free: dict[str, int] = {}  # per GEMM layer: its cycles not yet hidden behind
        done: list[tuple[GemmProblem | VectorProblem, LayerResult] | None] = [None] * len(self.distinct)
        for problem, index in zip(self.problems, self.order, strict=True):
            if done[index] is None:
                first, layer_mapping = self.distinct[index]
                if isinstance(first, VectorProblem) and first.fused_into is not None:
                    first = dataclasses.replace(first, hidden_cycles=free.get(first.fused_into, 0))
                done[index] = first, simulate_layer(first, target, phase=phase, engine=engine, mapping=layer_mapping)
            ran, result = done[index]
            if isinstance(ran, GemmProblem):
                free[problem.name] = result.cycles
            elif ran.fused_into is not None:
                free[ran.fused_into] = ran.hidden_cycles - result.hidden_cycles
        return done


def simulate_layers(problems: Iterable[GemmProblem | VectorProblem], target: Accelerator, *,
                    phase: str = "prefill", engine: str = "fast",
                    mappings: dict[str, Mapping] | None = None) -> list[tuple[GemmProblem | VectorProblem, LayerResult]]:
    """Each problem as run (epilogue ops with `hidden_cycles` filled in) and its
    result, in order; `mappings` gives a GEMM layer's mapping by name. Each
    distinct problem is costed once (`Layers`)."""
    layers = Layers.of(problems, mappings)
    done = layers.run(target, phase=phase, engine=engine)
    return [_named(*done[index], problem.name) for problem, index in zip(layers.problems, layers.order, strict=True)]


def _named(ran: GemmProblem | VectorProblem, result: LayerResult,
           name: str) -> tuple[GemmProblem | VectorProblem, LayerResult]:
    """A distinct problem's run as the layer `name` that repeats it."""
    if ran.name == name:
        return ran, result
    return dataclasses.replace(ran, name=name), dataclasses.replace(result, name=name)


__all__ = ["ENGINES", "Layers", "Mapping", "plan_layer", "simulate_layer", "simulate_layers"]
