"""Non-GEMM layers on the target's vector unit.

Rule: the vector unit does `elements x ops_per_element` operations at
`ops_per_cycle`, C = ceil(ops / ops_per_cycle) cycles, while the DRAM channel
streams the layer's input and output bytes, D = ceil((in + out) / B) cycles
(in and out rounded up to whole bytes); the two overlap, so the layer takes
max(C, D) cycles, and the vector unit's wait for data, max(0, D - C), is a `dram`
stall. `fast` writes this down; `trace` steps both units a cycle at a time.

Epilogue ops (fused into a GEMM, `problem.fused_into`): the unit starts on the
GEMM's results as they drain, so both units start with the GEMM and the first H
= `hidden_cycles` cycles run under the GEMM's own (H is what is left of the GEMM's
cycles after the chain's earlier ops, engines.simulate_layers). The layer adds
only the cycles past them, max(0, max(C, D) - H), and `hidden_cycles` reports
min(max(C, D), H); only an exposed cycle can be a stall, max(0, D - max(C, H)).
Its D counts only its operands from outside the chain (a residual): the chain's
values stay on chip and the GEMM writes the last one (its output bytes). The
DRAM reads of the hidden part are not charged against the GEMM's own traffic: a
simplification, small where the fused operands are small next to the GEMM's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from bitsmith.simulator.engines.result import COUNTERS
from bitsmith.simulator.engines.trace import (L_LOAD, L_STALL_DRAM, L_VECTOR, S_DONE, S_NEV, S_T, EventSink,
                                              close_lanes, drive, record_lanes)
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.problem import LayerResult, VectorProblem
from bitsmith.targets.accelerator import Accelerator

# Counters of a vector run: exposed cycles, vector busy, DRAM busy, dram stall, cycles hidden under a GEMM.
V_CYCLES, V_VECTOR, V_DRAM, V_STALL, V_HIDDEN = range(5)


@dataclass(frozen=True)
class VectorWork:
    problem: VectorProblem
    ops: int
    dram_bytes: int
    compute_cycles: int
    dram_cycles: int
    ops_per_cycle: int
    hidden_cycles: int

    @classmethod
    def of(cls, problem: VectorProblem, target: Accelerator) -> VectorWork:
        ops = problem.elements * problem.ops_per_element
        if target.vector_unit is None and ops:
            raise SimulationError(f"layer {problem.name}: target {target.name} has no vector unit to run {problem.op}")
        # data movement (0 ops) only streams through DRAM, with or without a vector unit
        rate = target.vector_unit.ops_per_cycle if target.vector_unit is not None else 1
        nbytes = math.ceil(problem.input_bytes) + math.ceil(problem.output_bytes)
        return cls(problem, ops, nbytes, -(-ops // rate), math.ceil(nbytes / target.dram_bytes_per_cycle), rate,
                   problem.hidden_cycles)

    def result(self, counters: np.ndarray) -> LayerResult:
        cycles, hidden = int(counters[V_CYCLES]), int(counters[V_HIDDEN])
        span = cycles + hidden
        return LayerResult(
            name=self.problem.name, op=self.problem.op, cycles=cycles,
            busy_cycles={"vector": int(counters[V_VECTOR]), "dram": int(counters[V_DRAM])},
            stall_cycles={"dram": int(counters[V_STALL])},
            actions={"vector_op": float(self.ops), "dram_bit": 8.0 * self.dram_bytes},
            dram_bytes=float(self.dram_bytes), utilisation=self.ops / (self.ops_per_cycle * span) if span else 0.0,
            mapping="vector unit" if self.problem.fused_into is None else f"epilogue of {self.problem.fused_into}",
            hidden_cycles=hidden)


def run_fast(work: VectorWork) -> LayerResult:
    c, d, h = work.compute_cycles, work.dram_cycles, work.hidden_cycles
    span = max(c, d)
    exposed = max(0, span - h)
    return work.result(np.array([exposed, c, d, max(0, d - max(c, h)), span - exposed], dtype=np.int64))


@numba.njit(cache=True)
def _run_vector(compute: int, dram: int, hidden: int, counters: np.ndarray, st: np.ndarray, lane_on: np.ndarray,
                lane_start: np.ndarray, lane_label: np.ndarray, events: np.ndarray) -> None:
    """Step the vector unit and the DRAM stream from saved state `st` (trace.py);
    cycles before `hidden` run under the producer GEMM's (module docstring)."""
    on = np.zeros(lane_on.size, dtype=np.int64)
    label = np.zeros(lane_on.size, dtype=np.int64)
    unused = np.zeros(len(COUNTERS), dtype=np.int64)  # the GEMM counters record_lanes also fills
    t = st[S_T]
    while st[S_NEV] + 2 * lane_on.size < events.shape[0]:
        if t >= compute and t >= dram:
            close_lanes(t, lane_on, lane_start, lane_label, events, st)
            st[S_DONE] = 1
            break
        on[:] = 0
        on[L_VECTOR] = t < compute
        on[L_LOAD] = t < dram
        on[L_STALL_DRAM] = t >= compute and t >= hidden
        if t < hidden:
            counters[V_HIDDEN] += 1
        else:
            counters[V_CYCLES] += 1
        counters[V_VECTOR] += on[L_VECTOR]
        counters[V_DRAM] += on[L_LOAD]
        counters[V_STALL] += on[L_STALL_DRAM]
        record_lanes(t, on, label, lane_on, lane_start, lane_label, unused, events, st)
        t += 1
    st[S_T] = t


def run_trace(work: VectorWork, sink: EventSink | None = None, batch_events: int = 4096) -> LayerResult:
    counters = np.zeros(5, dtype=np.int64)
    drive(_run_vector, (work.compute_cycles, work.dram_cycles, work.hidden_cycles, counters), sink, batch_events)
    return work.result(counters)
