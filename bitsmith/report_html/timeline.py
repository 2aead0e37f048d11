"""The per-cycle timeline of one GEMM, as data a browser can page through.

The trace engine already hands out run-length events (lane, start, end, step):
one row per stretch of cycles a unit spends on one step, so even a GEMM of 10^5
cycles has thousands of rows, not 10^5 x lanes flags. The timeline keeps them in
two forms, so the viewer never walks more than it shows:

- `overview`: busy cycles per lane in at most `OVERVIEW_COLUMNS` equal buckets
  (what a zoomed-out view draws, one bucket per few pixels);
- `pages`: the runs cut at every `PAGE_CYCLES`-cycle boundary, each page one
  string of comma-separated integers `lane,start,end,step,...` (absolute cycles,
  lane an index into `lanes`). The page is parsed only when the view or the cursor
  reaches it, so loading the report parses a list of strings, whatever the length.

At most `MAX_RUNS` runs are kept; past that the detail stops at `complete_until`
(the overview still covers every cycle) and the report says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bitsmith.simulator.engines import Mapping, simulate_layer
from bitsmith.simulator.engines.trace import LANES
from bitsmith.simulator.problem import GemmProblem, LayerResult
from bitsmith.targets.accelerator import Accelerator
from bitsmith.trace_cli import SHOWN, WindowRecorder

OVERVIEW_COLUMNS = 1200
PAGE_CYCLES = 1024
MAX_RUNS = 300_000


@dataclass(frozen=True)
class Timeline:
    """What each unit of one GEMM does, cycle by cycle (module docstring)."""

    title: str
    cycles: int
    lanes: tuple[str, ...]  # keys of trace_cli.SHOWN, in display order, only those ever busy
    bucket_cycles: int
    overview: tuple[tuple[int, ...], ...]  # per lane: busy cycles per bucket
    runs: tuple[tuple[int, int, int, int], ...]  # (lane index into `lanes`, start, end, step), start order
    complete_until: int
    result: LayerResult

    def busy_at(self, cycle: int) -> list[tuple[str, int]]:
        """The (lane key, step) of every unit busy in `cycle`, in display order."""
        return sorted(((self.lanes[lane], step) for lane, start, end, step in self.runs if start <= cycle < end),
                      key=lambda busy: self.lanes.index(busy[0]))

    def pages(self) -> list[str]:
        """The runs cut at page boundaries, one string of integers per page."""
        pages: list[list[int]] = [[] for _ in range(-(-self.cycles // PAGE_CYCLES))]
        for lane, start, end, step in self.runs:
            for page in range(start // PAGE_CYCLES, (end - 1) // PAGE_CYCLES + 1):
                lo, hi = max(start, page * PAGE_CYCLES), min(end, (page + 1) * PAGE_CYCLES)
                pages[page].extend((lane, lo, hi, step))
        return [",".join(map(str, page)) for page in pages]

    def to_json(self) -> str:
        """The document viewer.js reads (module docstring for the layout)."""
        stalls = [key for key in self.lanes if "stall" in key or "wait" in SHOWN[key]]
        return json.dumps({
            "title": self.title, "cycles": self.cycles, "completeUntil": self.complete_until,
            "lanes": [{"key": key, "label": SHOWN[key], "stall": key in stalls} for key in self.lanes],
            "bucket": self.bucket_cycles, "overview": self.overview, "page": PAGE_CYCLES, "pages": self.pages(),
        }, separators=(",", ":"))


def record_timeline(problem: GemmProblem, target: Accelerator, *, phase: str = "prefill",
                    mapping: Mapping | None = None) -> Timeline:
    """Run `problem` on `target` with the trace engine and keep its timeline."""
    cycles = simulate_layer(problem, target, phase=phase, mapping=mapping).cycles  # sizes the buckets
    recorder = WindowRecorder(0, max(cycles, 1), columns=OVERVIEW_COLUMNS, keep=MAX_RUNS)
    result = simulate_layer(problem, target, phase=phase, mapping=mapping, engine="trace", sink=recorder)
    shown = list(SHOWN)
    rows = [row for row in range(len(shown)) if recorder.buckets[row].any()]
    lanes = tuple(shown[row] for row in rows)
    runs = sorted(((lanes.index(LANES[lane]), start, end, step) for lane, start, end, step in recorder.runs),
                  key=lambda run: (run[1], run[0]))
    title = (f"{problem.name}: GEMM M{problem.M} N{problem.N} K{problem.K}, {problem.weight_format} weights, on "
             f"{target.name} ({phase}), {result.mapping}")
    return Timeline(title, result.cycles, lanes, recorder.width,
                    tuple(tuple(int(v) for v in recorder.buckets[row]) for row in rows), tuple(runs),
                    min(recorder.complete_until, result.cycles), result)
