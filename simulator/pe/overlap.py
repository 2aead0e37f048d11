"""Two units in a pipeline with no buffer between them, in closed form.

Both the BitMoD PE (group accumulation feeding the bit-serial dequant unit, FACTS
§1.2) and a LUT array with a broadcast table builder (table precompute feeding the
lookups, FACTS §3.2) are a producer stage handing items one at a time to a consumer
stage. Item i is handed over when the producer has finished it *and* the consumer
has finished item i-1; the producer starts item i+1 at that hand-over. So

    handover[0] = first[0]
    handover[i] = handover[i-1] + max(first[i], second[i-1])
    total       = handover[n-1] + second[n-1]

i.e. total = first[0] + sum_{i>=1} max(first[i], second[i-1]) + second[n-1]: the
first stage's head, the slower stage per later item, and the tail of the second
stage draining after the last hand-over. Seen from the producer, total = its busy
cycles + its stalls (waiting to hand over) + the tail; from the consumer, total =
the head + its busy cycles + its starved cycles (waiting for the next item).

Where the two stages are one unit's phases (a LUT PE building its own tables), they
do not overlap: the producer starts item i+1 only when the consumer has finished
item i, so total = sum(first) + sum(second).

Every PE model states its chunk as such a pipeline (`PEStages`, from
`PEModel.stages`); its closed-form timing and the trace engine's cycle-by-cycle
stepping both start from that one statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TwoStageSchedule:
    """Cycles of a two-stage pipeline (see the module docstring): each stage's busy
    cycles; `first_stall_cycles`, the producer waiting for the consumer to take an
    item; `second_starve_cycles`, the consumer waiting for the producer after the
    first hand-over; `head_cycles` before the consumer starts; `tail_cycles` after
    the producer's last hand-over; `total_cycles` from first start to last finish."""

    first_busy_cycles: int
    second_busy_cycles: int
    first_stall_cycles: int
    second_starve_cycles: int
    head_cycles: int
    tail_cycles: int
    total_cycles: int


def two_stage_schedule(first: np.ndarray, second: np.ndarray) -> TwoStageSchedule:
    """Schedule items with per-item cycles `first` (producer) and `second`
    (consumer), equal-length 1-d integer arrays (see the module docstring)."""
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    if first.shape != second.shape or first.ndim != 1 or first.size == 0:
        raise ValueError(f"stages need equal non-empty 1-d cycle lists, got {first.shape} and {second.shape}")
    stall = int(np.maximum(second[:-1] - first[1:], 0).sum())
    starve = int(np.maximum(first[1:] - second[:-1], 0).sum())
    first_busy, second_busy = int(first.sum()), int(second.sum())
    head, tail = int(first[0]), int(second[-1])
    return TwoStageSchedule(first_busy, second_busy, stall, starve, head, tail, first_busy + stall + tail)


@dataclass(frozen=True)
class PEStages:
    """One PE's chunk as a pipeline of at most two stages of items: stage one busy
    `first[i]` cycles on item i, stage two `second[i]` (zeros for a single-stage
    PE). `overlapped`: the hand-over rule of the module docstring; otherwise stage
    one starts item i+1 only when stage two has finished item i. `first_units` and
    `second_units` name the PE units each stage keeps busy (keys of the PE model's
    `timing(chunk).busy_cycles()`)."""

    first: np.ndarray
    second: np.ndarray
    overlapped: bool
    first_units: tuple[str, ...]
    second_units: tuple[str, ...] = ()

    def schedule(self) -> TwoStageSchedule:
        """The stages' cycles in closed form; without overlap nothing stalls or starves."""
        if self.overlapped:
            return two_stage_schedule(self.first, self.second)
        first, second = int(self.first.sum()), int(self.second.sum())
        return TwoStageSchedule(first, second, 0, 0, int(self.first[0]), int(self.second[-1]), first + second)
