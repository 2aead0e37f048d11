"""The `fast` engine: the timing rules of array.py and plan.py in closed form and
recurrences, compiled with numba; checked against `trace`, which steps the cycles.

Array time per step shape (every step of a shape runs the same folds): for fold f,
PEs done at p_f = pre + (ur-1)*hop_r + (uc-1)*hop_c + active, fold time
c_f = max(p_f, port_w, port_x), and the fold/drain two-stage rule gives
handover_f = max(start_f + c_f, drain_end_{f-1}), start_{f+1} = handover_f,
drain_end_f = handover_f + drain_f; the step takes drain_end of its last fold.

DRAM and steps: one channel serves, in this order, L0, L1, S0, L2, S1, ...,
L(n-1), S(n-2), S(n-1) (load i, store i), skipping transfers of zero bytes. Each
starts when the channel has finished the previous one and it is ready: load i when
step i-2's compute has ended (its double-buffer half is free), store i when step
i's compute has ended. Step i computes from max(load i end, step i-1 end) for its
array time. The layer ends at the last compute or store end.
"""

from __future__ import annotations

import numba
import numpy as np

from bitsmith.simulator.array import (ACTIVE, DRAIN, HOP_C, HOP_R, PORT_W, PORT_X, PRE, PROGRAM, REPS, UC, UR)
from bitsmith.simulator.engines.result import (ARRAY, COUNTERS, CYCLES, DRAIN as C_DRAIN, DRAM, LOAD_IN, PE_CYCLES,
                                               PE_FIRST, PE_FIRST_STALL, PE_SECOND, PE_SECOND_STARVE,
                                               PORT_W as C_PORT_W, PORT_X as C_PORT_X, STALL_DRAIN, STALL_DRAM,
                                               STALL_PORT, gemm_result)
from bitsmith.simulator.plan import Plan
from bitsmith.simulator.problem import LayerResult


@numba.njit(cache=True)
def _shape_times(folds: np.ndarray, fold_start: np.ndarray, program_stats: np.ndarray, counters: np.ndarray,
                 runs: np.ndarray) -> np.ndarray:
    """Array cycles of each step shape; `counters[s]` and `runs[s]` get the shape's
    per-step counts (program_stats[p] = first busy, second busy, first stall,
    second starve of one run of program p)."""
    shapes = fold_start.size - 1
    times = np.zeros(shapes, dtype=np.int64)
    for s in range(shapes):
        t = 0
        drain_end = 0
        for f in range(fold_start[s], fold_start[s + 1]):
            ur, uc, pre = folds[f, UR], folds[f, UC], folds[f, PRE]
            pes_done = pre + (ur - 1) * folds[f, HOP_R] + (uc - 1) * folds[f, HOP_C] + folds[f, ACTIVE]
            fold = max(pes_done, folds[f, PORT_W], folds[f, PORT_X])
            handover = max(t + fold, drain_end)
            counters[s, STALL_DRAIN] += handover - (t + fold)
            counters[s, STALL_PORT] += fold - pes_done
            counters[s, ARRAY] += pes_done - pre
            counters[s, LOAD_IN] += pre
            counters[s, C_DRAIN] += folds[f, DRAIN]
            counters[s, C_PORT_W] += folds[f, PORT_W]
            counters[s, C_PORT_X] += folds[f, PORT_X]
            counters[s, PE_CYCLES] += ur * uc * folds[f, ACTIVE]
            p, reps = folds[f, PROGRAM], folds[f, REPS]
            runs[s, p] += ur * uc * reps
            counters[s, PE_FIRST] += reps * program_stats[p, 0]
            counters[s, PE_SECOND] += reps * program_stats[p, 1]
            counters[s, PE_FIRST_STALL] += reps * program_stats[p, 2]
            counters[s, PE_SECOND_STARVE] += reps * program_stats[p, 3]
            drain_end = handover + folds[f, DRAIN]
            t = handover
        times[s] = drain_end
    return times


@numba.njit(cache=True)
def _steps(load_cycles: np.ndarray, store_cycles: np.ndarray, compute: np.ndarray) -> tuple[int, int]:
    """(total cycles, cycles the array waited for loads) of the step recurrences."""
    n = compute.size
    comp_end = np.zeros(n, dtype=np.int64)
    channel = 0
    stall = 0
    for i in range(n):
        load_end = 0
        if load_cycles[i] > 0:
            ready = comp_end[i - 2] if i >= 2 else 0
            load_end = max(channel, ready) + load_cycles[i]
            channel = load_end
        previous = comp_end[i - 1] if i >= 1 else 0
        stall += max(0, load_end - previous)
        comp_end[i] = max(load_end, previous) + compute[i]
        if i >= 1 and store_cycles[i - 1] > 0:
            channel = max(channel, comp_end[i - 1]) + store_cycles[i - 1]
    if store_cycles[n - 1] > 0:
        channel = max(channel, comp_end[n - 1]) + store_cycles[n - 1]
    return max(channel, comp_end[n - 1]), stall


def program_stats(plan: Plan) -> np.ndarray:
    """Per program: stage one busy, stage two busy, stage-one stall, stage-two starve."""
    schedules = [program.stages.schedule() for program in plan.programs]
    return np.array([(s.first_busy_cycles, s.second_busy_cycles, s.first_stall_cycles, s.second_starve_cycles)
                     for s in schedules], dtype=np.int64)


def run_gemm(plan: Plan) -> LayerResult:
    n_shapes, n_programs = len(plan.shapes), len(plan.programs)
    per_shape = np.zeros((n_shapes, len(COUNTERS)), dtype=np.int64)
    shape_runs = np.zeros((n_shapes, n_programs), dtype=np.int64)
    times = _shape_times(plan.fold_table, plan.fold_start, program_stats(plan), per_shape, shape_runs)
    uses = np.bincount(plan.step_shape, minlength=n_shapes)
    counters = uses @ per_shape
    runs = uses @ shape_runs
    total, stall = _steps(plan.load_cycles, plan.store_cycles, times[plan.step_shape])
    counters[CYCLES] = total
    counters[STALL_DRAM] = stall
    counters[DRAM] = int(plan.load_cycles.sum() + plan.store_cycles.sum())
    return gemm_result(plan, counters, runs)
