"""The `trace` engine: every unit stepped one cycle at a time, the definition that
`fast` is tested against.

Each cycle t runs four phases, in this order:
1. hand-over: a fold that has ended passes its results to the drain once the
   drain is free; the next fold of the step starts now, or, after the last fold,
   the step ends when its drain does (now, if it has none);
2. DRAM: an idle channel starts the next transfer of the fixed order L0, L1, S0,
   L2, S1, ... if it is ready (load i: step i-2's compute has ended; store i: step
   i's has);
3. step start: an idle array starts the next step once its load has ended;
4. work: the channel moves one cycle of its transfer; every PE of the running
   fold takes one cycle of its program (PE (r, c) runs `active` cycles from its
   skew offset, pre + r*hop_r + c, see array.py); each port streams one access;
   the drain moves one row. A fold ends after the cycle in which its last PE and
   both port streams finish.
The layer ends at the first cycle with every step computed and every transfer
done.

PE programs are stepped stage by stage (`step_program`), giving one flag word per
cycle of a chunk: stage one busy, stage two busy, stage one stalled, stage two
starved. Every PE of a fold runs the same program shifted by its offset, so each
PE reads its flags at its own offset into that word list.

What each unit does each cycle is kept as run-length events (lane, start, end,
step) and handed to a sink in batches of at most `batch_events`, so memory stays
bounded by the plan, not by the cycles simulated.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from bitsmith.simulator.array import DRAIN, PORT_W, PORT_X, PRE, PROGRAM, REPS, UC, UR
from bitsmith.simulator.engines.result import (ARRAY, COUNTERS, CYCLES, DRAIN as C_DRAIN, DRAM, LOAD_IN, PE_CYCLES,
                                               PE_FIRST, PE_FIRST_STALL, PE_SECOND, PE_SECOND_STARVE,
                                               PORT_W as C_PORT_W, PORT_X as C_PORT_X, STALL_DRAIN, STALL_DRAM,
                                               STALL_PORT, gemm_result)
from bitsmith.simulator.plan import Plan
from bitsmith.simulator.problem import LayerResult

EventSink = Callable[[np.ndarray], None]

# "weight_load" is the held operand shifting into the array: the inputs when input-stationary.
LANES = ("dram_load", "dram_store", "array", "weight_load", "drain", "port_w", "port_x", "stall_dram", "stall_drain",
         "stall_port", "pe_first", "pe_second", "pe_first_stall", "pe_second_starve", "vector")
(L_LOAD, L_STORE, L_ARRAY, L_WEIGHT_LOAD, L_DRAIN, L_PORT_W, L_PORT_X, L_STALL_DRAM, L_STALL_DRAIN, L_STALL_PORT,
 L_PE_FIRST, L_PE_SECOND, L_PE_FIRST_STALL, L_PE_SECOND_STARVE, L_VECTOR) = range(len(LANES))
# The counter each lane's busy cycles add to (-1: none).
LANE_COUNTER = np.array([DRAM, DRAM, ARRAY, LOAD_IN, C_DRAIN, C_PORT_W, C_PORT_X, STALL_DRAM, STALL_DRAIN,
                         STALL_PORT, PE_FIRST, PE_SECOND, PE_FIRST_STALL, PE_SECOND_STARVE, -1], dtype=np.int64)
# Flag bits of a PE program cycle.
BUSY1, BUSY2, STALL1, STARVE2 = 1, 2, 4, 8

# Saved state of a run (it returns whenever its event buffer is nearly full).
(S_T, S_Q, S_DREM, S_DKIND, S_DSTEP, S_STEP, S_ASTATE, S_FOLD, S_FSTART, S_PWREM, S_PXREM, S_DRREM, S_DONE,
 S_NEV) = range(14)
IDLE, RUN, WAIT, FINISH = range(4)
LOAD, STORE = 0, 1
INFINITY = np.iinfo(np.int64).max


@numba.njit(cache=True)
def step_program(first: np.ndarray, second: np.ndarray, overlap: bool) -> np.ndarray:
    """Flag word per cycle of one PE program's stages (pe/overlap.PEStages), stepped cycle by cycle."""
    n = first.size
    flags = np.zeros(first.sum() + second.sum() + 1, dtype=np.uint8)
    current, rem1, held, waiting = 0, first[0], False, False
    rem2, handed, t = 0, 0, 0
    while True:
        if held and rem2 == 0:  # hand item `current` to stage two
            rem2, handed, held = second[current], handed + 1, False
            current += 1
            if current < n:
                if overlap:
                    rem1 = first[current]
                else:
                    waiting = True
        if waiting and rem2 == 0:
            rem1, waiting = first[current], False
        if handed == n and rem2 == 0:
            return flags[:t]
        word = 0
        if rem1 > 0 and not waiting:
            word |= BUSY1
            rem1 -= 1
            held = rem1 == 0
        elif held:
            word |= STALL1
        if rem2 > 0:
            word |= BUSY2
            rem2 -= 1
        elif overlap and 0 < handed < n:
            word |= STARVE2
        flags[t] = word
        t += 1


@numba.njit(cache=True)
def record_lanes(t: int, on: np.ndarray, label: np.ndarray, lane_on: np.ndarray, lane_start: np.ndarray,
           lane_label: np.ndarray, counters: np.ndarray, events: np.ndarray, st: np.ndarray) -> None:
    """Count this cycle's busy lanes and extend or close their runs."""
    for lane in range(on.size):
        if on[lane] and LANE_COUNTER[lane] >= 0:
            counters[LANE_COUNTER[lane]] += 1
        if lane_on[lane] and (not on[lane] or label[lane] != lane_label[lane]):
            k = st[S_NEV]
            events[k, 0], events[k, 1], events[k, 2], events[k, 3] = lane, lane_start[lane], t, lane_label[lane]
            st[S_NEV] = k + 1
            lane_on[lane] = 0
        if on[lane] and not lane_on[lane]:
            lane_on[lane], lane_start[lane], lane_label[lane] = 1, t, label[lane]



@numba.njit(cache=True)
def close_lanes(t: int, lane_on: np.ndarray, lane_start: np.ndarray, lane_label: np.ndarray, events: np.ndarray,
                 st: np.ndarray) -> None:
    """Close every open run at cycle `t` (the end of the simulation)."""
    for lane in range(lane_on.size):
        if lane_on[lane]:
            k = st[S_NEV]
            events[k, 0], events[k, 1], events[k, 2], events[k, 3] = lane, lane_start[lane], t, lane_label[lane]
            st[S_NEV] = k + 1
            lane_on[lane] = 0


@numba.njit(cache=True)
def _run_gemm(folds: np.ndarray, fold_start: np.ndarray, step_shape: np.ndarray, load_cycles: np.ndarray,
              ops: np.ndarray, flags: np.ndarray, lengths: np.ndarray, output_stationary: bool,
              comp_end: np.ndarray, load_end: np.ndarray, counters: np.ndarray, runs: np.ndarray,
              st: np.ndarray, lane_on: np.ndarray, lane_start: np.ndarray, lane_label: np.ndarray,
              events: np.ndarray) -> None:
    """Step the layer's cycles from saved state `st` until done or `events` is nearly full."""
    n = step_shape.size
    n_ops = ops.shape[0]
    on = np.zeros(lane_on.size, dtype=np.int64)
    label = np.zeros(lane_on.size, dtype=np.int64)
    t, q, d_rem, d_kind, d_step = st[S_T], st[S_Q], st[S_DREM], st[S_DKIND], st[S_DSTEP]
    step, a_state, fold, f_start = st[S_STEP], st[S_ASTATE], st[S_FOLD], st[S_FSTART]
    pw_rem, px_rem, dr_rem = st[S_PWREM], st[S_PXREM], st[S_DRREM]
    while st[S_NEV] + 2 * lane_on.size < events.shape[0]:
        # 1. hand-over
        if a_state == WAIT and dr_rem == 0:
            dr_rem = folds[fold, DRAIN]
            if fold + 1 < fold_start[step_shape[step] + 1]:
                fold, f_start, a_state = fold + 1, t, RUN
                pw_rem, px_rem = folds[fold, PORT_W], folds[fold, PORT_X]
            elif dr_rem > 0:
                a_state = FINISH
            else:
                comp_end[step], step, a_state = t, step + 1, IDLE
        # 2. DRAM issue
        if d_rem == 0 and q < n_ops:
            kind, s = ops[q, 0], ops[q, 1]
            if kind == LOAD:
                ready = s < 2 or comp_end[s - 2] <= t
            else:
                ready = comp_end[s] <= t
            if ready:
                d_rem, d_kind, d_step, q = ops[q, 2], kind, s, q + 1
        # 3. step start
        if a_state == IDLE and step < n and (load_cycles[step] == 0 or load_end[step] <= t):
            fold, f_start, a_state = fold_start[step_shape[step]], t, RUN
            pw_rem, px_rem = folds[fold, PORT_W], folds[fold, PORT_X]
        if step == n and q == n_ops and d_rem == 0:
            close_lanes(t, lane_on, lane_start, lane_label, events, st)
            counters[CYCLES] = t
            st[S_DONE] = 1
            break
        # 4. work
        on[:] = 0
        label[:] = step
        if d_rem > 0:
            on[L_LOAD if d_kind == LOAD else L_STORE] = 1
            label[L_LOAD], label[L_STORE] = d_step, d_step
            d_rem -= 1
            if d_rem == 0 and d_kind == LOAD:
                load_end[d_step] = t + 1
        if a_state == RUN:
            ur, uc, pre, p, reps = folds[fold, UR], folds[fold, UC], folds[fold, PRE], folds[fold, PROGRAM], \
                folds[fold, REPS]
            length = lengths[p]
            active = length * reps
            hop_r = 1 if output_stationary else length
            since = t - f_start
            on[L_WEIGHT_LOAD] = since < pre
            unfinished = 0
            busy = 0
            for r in range(ur):
                for c in range(uc):
                    tau = since - pre - r * hop_r - c
                    if tau < active - 1:
                        unfinished += 1
                    if 0 <= tau < active:
                        busy += 1
                        local = tau % length
                        if local == length - 1:
                            runs[p] += 1
                        if r == 0 and c == 0:
                            word = flags[p, local]
                            on[L_PE_FIRST] = (word & BUSY1) != 0
                            on[L_PE_SECOND] = (word & BUSY2) != 0
                            on[L_PE_FIRST_STALL] = (word & STALL1) != 0
                            on[L_PE_SECOND_STARVE] = (word & STARVE2) != 0
            counters[PE_CYCLES] += busy
            on[L_ARRAY] = busy > 0
            streaming = pw_rem > 0 or px_rem > 0
            on[L_STALL_PORT] = busy == 0 and since >= pre and unfinished == 0 and streaming
            if pw_rem > 0:
                on[L_PORT_W] = 1
                pw_rem -= 1
            if px_rem > 0:
                on[L_PORT_X] = 1
                px_rem -= 1
            if unfinished == 0 and pw_rem == 0 and px_rem == 0:
                a_state = WAIT
        elif a_state == WAIT:
            on[L_STALL_DRAIN] = 1
        elif a_state == IDLE and step < n:
            on[L_STALL_DRAM] = 1
        if dr_rem > 0:
            on[L_DRAIN] = 1
            dr_rem -= 1
            if dr_rem == 0 and a_state == FINISH:
                comp_end[step], step, a_state = t + 1, step + 1, IDLE
        record_lanes(t, on, label, lane_on, lane_start, lane_label, counters, events, st)
        t += 1
    st[S_T], st[S_Q], st[S_DREM], st[S_DKIND], st[S_DSTEP] = t, q, d_rem, d_kind, d_step
    st[S_STEP], st[S_ASTATE], st[S_FOLD], st[S_FSTART] = step, a_state, fold, f_start
    st[S_PWREM], st[S_PXREM], st[S_DRREM] = pw_rem, px_rem, dr_rem


def channel_order(plan: Plan) -> np.ndarray:
    """DRAM transfers (kind, step, cycles) in the channel's order, zero-cycle ones left out."""
    ops = []
    for i in range(plan.steps):
        ops.append((LOAD, i, int(plan.load_cycles[i])))
        if i >= 1:
            ops.append((STORE, i - 1, int(plan.store_cycles[i - 1])))
    ops.append((STORE, plan.steps - 1, int(plan.store_cycles[-1])))
    return np.array([op for op in ops if op[2] > 0], dtype=np.int64).reshape(-1, 3)


def drive(run: Callable[..., None], args: tuple, sink: EventSink | None, batch_events: int) -> None:
    """Call the compiled `run(*args, st, lane state, events)` until it is done,
    handing each batch of events to `sink`."""
    st, lanes = np.zeros(14, dtype=np.int64), len(LANES)
    events = np.zeros((max(batch_events, 4 * lanes), 4), dtype=np.int64)
    lane_on, lane_start, lane_label = (np.zeros(lanes, dtype=np.int64) for _ in range(3))
    while not st[S_DONE]:
        st[S_NEV] = 0
        run(*args, st, lane_on, lane_start, lane_label, events)
        if sink is not None and st[S_NEV]:
            sink(events[:st[S_NEV]].copy())


def run_gemm(plan: Plan, sink: EventSink | None = None, batch_events: int = 4096) -> LayerResult:
    """Simulate `plan` cycle by cycle; `sink` receives (lane, start, end, step) rows."""
    programs = [step_program(p.stages.first, p.stages.second, p.stages.overlapped) for p in plan.programs]
    lengths = np.array([len(f) for f in programs], dtype=np.int64)
    flags = np.zeros((len(programs), int(lengths.max())), dtype=np.uint8)
    for i, f in enumerate(programs):
        flags[i, :len(f)] = f
    counters = np.zeros(len(COUNTERS), dtype=np.int64)
    runs = np.zeros(len(programs), dtype=np.int64)
    comp_end = np.full(plan.steps, INFINITY, dtype=np.int64)
    load_end = np.full(plan.steps, INFINITY, dtype=np.int64)
    args = (plan.fold_table, plan.fold_start, plan.step_shape, plan.load_cycles, channel_order(plan), flags, lengths,
            plan.array.output_stationary, comp_end, load_end, counters, runs)
    drive(_run_gemm, args, sink, batch_events)
    return gemm_result(plan, counters, runs)
