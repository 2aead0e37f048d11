"""`simulate(graph, target)`: a graph's cycles, traffic, energy and area on a
modelled accelerator, layer by layer (DESIGN §2, §6).

The graph becomes layer problems (workload.py), each is run by an engine
(`fast` or `trace`) on the array arranged for the phase, one after another, an
epilogue op hiding behind its GEMM (engines.simulate_layers), and each result is
costed (energy.py); the target's area comes from its components (area.py). Given
inputs, the functional simulation (functional.py) runs too and its outputs ride
on the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bitsmith.ir.graph import Graph
from bitsmith.simulator import mapping
from bitsmith.simulator.area import target_area
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.engines import simulate_layers
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.functional import run_functional
from bitsmith.simulator.problem import GemmProblem, LayerProblem, LayerResult
from bitsmith.simulator.report import LayerReport, SimReport
from bitsmith.simulator.workload import graph_phase, workload
from bitsmith.targets import Accelerator, Target, load_target

ENGINES = ("fast", "trace")
PHASES = ("prefill", "decode")


def accelerator(target: str | Target) -> Accelerator:
    """`target` (a name, a path or a loaded target) as an accelerator the simulator
    can cost; CPU and GPU targets run real code instead."""
    loaded = load_target(target) if isinstance(target, str) else target
    if not isinstance(loaded, Accelerator):
        raise SimulationError(f"target {loaded.name} is a {loaded.kind} target; the simulator costs accelerators")
    return loaded


def simulate(graph: Graph, target: str | Target, *, engine: str = "fast", phase: str | None = None,
             inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray] | None = None) -> SimReport:
    """Simulate `graph` on `target`. `phase` None takes the graph's own
    (`workload.graph_phase`); `inputs`, when given, also runs the functional
    simulation and puts its outputs on the report."""
    if engine not in ENGINES:
        raise SimulationError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if phase is not None and phase not in PHASES:
        raise SimulationError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    accel = accelerator(target)
    phase = phase or graph_phase(graph)
    layers = tuple(layer_report(problem, result, accel) for problem, result in
                   simulate_layers(workload(graph, accel), accel, phase=phase, engine=engine,
                                   mappings=node_mappings(graph)))
    outputs = None if inputs is None else run_functional(graph, accel, inputs).outputs
    return SimReport(graph.name, accel.name, phase, engine, accel.clock_hz, accel.dram_bytes_per_cycle, layers,
                     target_area(accel), outputs)


def node_mappings(graph: Graph) -> dict[str, mapping.Mapping]:
    """The mapping the tiling pass recorded on each GEMM node (`tile`, `loop_order`)."""
    return {node.name: mapping.Mapping(*node.attrs["tile"], node.attrs["loop_order"] or "nmk")
            for node in graph.nodes if node.attrs.get("tile") is not None}


def layer_report(problem: LayerProblem, result: LayerResult, target: Accelerator) -> LayerReport:
    """An engine's result with its energy and, for a GEMM, the compute roof."""
    peak = (target.pe_array.macs_per_cycle(problem.weight_bits, problem.act_bits)
            if isinstance(problem, GemmProblem) else None)
    return LayerReport(result, layer_energy(result, target), peak)
