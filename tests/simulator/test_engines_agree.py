"""`trace` (every cycle stepped) against `fast` (closed forms): the same cycles,
busy and stall cycles, actions and traffic on generated GEMMs x formats x targets
(the shipped ones and each as input-stationary), under default and generated
mappings; and the trace's cycle-by-cycle PE programs against each PE model's own
timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bitsmith.simulator.array import ArrayModel, pe_program
from bitsmith.simulator.engines import plan_layer, simulate_layer, trace
from bitsmith.simulator.engines.trace import BUSY1, BUSY2, LANES, step_program
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.mapping import ORDERS, Mapping
from bitsmith.simulator.pe import LUTPE, DotChunk, pe_model
from bitsmith.simulator.problem import GemmProblem
from bitsmith.targets import Accelerator, load_target

# Per target: (weight format, element bits, stored bits per weight, group size, activation bits).
FORMATS = {
    "bitmod": [("int6", 6, 6.0625, 128, 16), ("bitmod3", 3, 3.0625, 128, 16), ("int8", 8, 8.5, 16, 16)],
    "fp16_mac": [("f16", 16, 16.0, None, 16)],
    "lut_tensor_core": [("int2", 2, 2.0, None, 16), ("int3", 3, 3.0, None, 16), ("int4", 4, 4.0, None, 16)],
    "stripes": [("i16", 16, 16.0, None, 8), ("i16", 16, 16.0, None, 3)],
    "loom": [("int4", 4, 4.0, None, 6), ("int8", 8, 8.0, None, 2)],
    "bitfusion": [("int4", 4, 4.0, None, 4), ("int8", 8, 8.0, None, 8), ("int2", 2, 2.0, None, 4)],
    "int8_systolic": [("int8", 8, 8.0, None, 8)],
}
DATAFLOWS = ("shipped", "input_stationary")
TARGETS = {(name, dataflow): load_target(name) if dataflow == "shipped" else
           load_target(name).override({"pe_array.dataflow": dataflow}) for name in FORMATS for dataflow in DATAFLOWS}


@st.composite
def cases(draw: st.DrawFn) -> tuple[GemmProblem, Accelerator, str, Mapping | None]:
    name = draw(st.sampled_from(sorted(FORMATS)))
    target = TARGETS[name, draw(st.sampled_from(DATAFLOWS))]
    fmt, bits, stored, group, act = draw(st.sampled_from(FORMATS[name]))
    m, n, k = draw(st.integers(1, 40)), draw(st.integers(1, 150)), draw(st.integers(1, 300))
    problem = GemmProblem("g", "linear", m, n, k, fmt, bits, stored, act_bits=act, group_size=group,
                          batch=draw(st.sampled_from([1, 1, 2])), weight_reuse=draw(st.booleans()))
    phase = draw(st.sampled_from(["prefill", "decode"]))
    mapping = None
    if draw(st.booleans()):
        array = ArrayModel.of(target, phase, bits, act)
        k_unit = array.tile_k if group is None or not array.output_stationary else math.lcm(array.tile_k, group)
        mapping = Mapping(array.tile_m * draw(st.integers(1, 3)), array.tile_n * draw(st.integers(1, 3)),
                          k_unit * draw(st.integers(1, 3)), draw(st.sampled_from(ORDERS)))
    return problem, target, phase, mapping


@settings(max_examples=250, deadline=None)
@given(cases())
def test_trace_equals_fast(case: tuple[GemmProblem, Accelerator, str, Mapping | None]) -> None:
    problem, target, phase, mapping = case
    try:
        fast = simulate_layer(problem, target, phase=phase, mapping=mapping)
    except SimulationError:  # a mapping that does not fit: checked in test_mapping.py
        event("mapping does not fit")
        return
    event(f"simulated on {target.name}, {target.pe_array.dataflow}")
    trace = simulate_layer(problem, target, phase=phase, mapping=mapping, engine="trace")
    assert trace == fast


CHUNKS = [
    ("bitmod", DotChunk(256, 6, 16, 128)), ("bitmod", DotChunk(32, 4, 16, 8)), ("bitmod", DotChunk(200, 6, 16, 128)),
    ("bitmod", DotChunk(10, 8, 16)), ("lut_tensor_core", DotChunk(64, 2, 16)), ("lut_tensor_core", DotChunk(7, 4, 16)),
    ("fp16_mac", DotChunk(33, 16, 16)), ("stripes", DotChunk(40, 16, 5)), ("loom", DotChunk(40, 4, 6, None, False)),
    ("bitfusion", DotChunk(9, 4, 4)), ("int8_systolic", DotChunk(3, 8, 8)),
]


@pytest.mark.parametrize(("target", "chunk"), CHUNKS)
def test_stepped_pe_program_matches_pe_model(target: str, chunk: DotChunk) -> None:
    pe = pe_model(load_target(target))
    stages = pe_program(pe, chunk).stages
    flags = step_program(stages.first, stages.second, stages.overlapped)
    timing = pe.timing(chunk)
    assert len(flags) == timing.total_cycles == stages.schedule().total_cycles
    busy = timing.busy_cycles()
    for unit in stages.first_units:
        assert int(np.count_nonzero(flags & BUSY1)) == busy[unit]
    for unit in stages.second_units:
        assert int(np.count_nonzero(flags & BUSY2)) == busy[unit]
    assert set(stages.first_units + stages.second_units) == set(busy)


def test_unshared_lut_builder_runs_before_its_lookups() -> None:
    # Each PE building its own tables: steps * (build + lookup) = 16 * (1 + 2) = 48.
    target = load_target("lut_tensor_core")
    pe = LUTPE(target.pe_array, shared_precompute=False)
    stages = pe.stages(DotChunk(64, 2, 16))
    flags = step_program(stages.first, stages.second, stages.overlapped)
    assert len(flags) == pe.timing(DotChunk(64, 2, 16)).total_cycles == 48
    assert not np.any((flags & BUSY1) & ((flags & BUSY2) >> 1))  # never both at once


def test_timeline_streams_in_bounded_batches() -> None:
    # The trace hands its events over in batches no larger than asked for, and the runs
    # of the DRAM lanes add up to the DRAM busy cycles.
    problem = GemmProblem("fc", "linear", 16, 32, 512, "i16", 16, 16.0, act_bits=8)
    batches: list[np.ndarray] = []
    plan = plan_layer(problem, load_target("stripes"), mapping=Mapping(16, 32, 128, "nmk"))
    result = trace.run_gemm(plan, batches.append, batch_events=64)
    assert len(batches) > 1 and max(len(b) for b in batches) <= 64
    events = np.concatenate(batches)
    dram = np.isin(events[:, 0], [LANES.index("dram_load"), LANES.index("dram_store")])
    assert int((events[dram, 2] - events[dram, 1]).sum()) == result.busy_cycles["dram"]
    assert events[:, 2].max() == result.cycles
