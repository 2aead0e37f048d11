"""`bitsmith trace`: one small GEMM on an accelerator, cycle by cycle.

Runs the `trace` engine and shows, for a window of cycles, what each unit does: a
strip per unit (one character per cycle, or per bucket of cycles when the window
is wider than the terminal), the list of busy intervals with the step each belongs
to, and the layer's totals. `--png` draws the same window as a timeline; `--step`
walks it interactively instead (trace_stepper.py). The engine streams its events;
only those inside the window are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # imported when the command runs, keeping `bitsmith --help` quick
    from bitsmith.simulator.problem import GemmProblem
    from bitsmith.targets import Accelerator

console = Console()

# Lanes shown, in display order, with what the unit is doing when busy. The held
# operand is the weights (weight-stationary) or the activations (input-stationary).
SHOWN = {
    "dram_load": "DRAM load", "dram_store": "DRAM store", "weight_load": "held operand shifting in",
    "array": "PEs computing", "port_w": "weight port", "port_x": "input port", "drain": "results draining",
    "pe_first": "PE(0,0) stage 1", "pe_second": "PE(0,0) stage 2", "stall_dram": "stall: wait DRAM",
    "stall_port": "stall: SRAM port", "stall_drain": "stall: wait drain", "pe_first_stall": "PE(0,0) stage 1 waits",
    "pe_second_starve": "PE(0,0) stage 2 waits", "vector": "vector unit",
}
MAX_ROWS = 60


class WindowRecorder:
    """An event sink keeping the runs that overlap cycles [start, end): each clipped
    to the window, at most `keep` of them listed, and per-lane busy counts in
    `columns` buckets for the strip view.

    Runs arrive as they close, so once `keep` is reached a run left out may start
    earlier than some kept ones; `complete_until` is the first cycle from which the
    kept runs may miss one (`end` when none was left out)."""

    def __init__(self, start: int, end: int, columns: int, keep: int = 5000) -> None:
        self.start, self.end, self.keep = start, end, keep
        self.width = max(1, -(-(end - start) // columns))
        self.buckets = np.zeros((len(SHOWN), -(-(end - start) // self.width)), dtype=np.int64)
        self.runs: list[tuple[int, int, int, int]] = []
        self.complete_until = end

    def __call__(self, events: np.ndarray) -> None:
        from bitsmith.simulator.engines.trace import LANES

        for lane, first, last, step in events.tolist():
            first, last = max(first, self.start), min(last, self.end)
            if first >= last:
                continue
            if len(self.runs) < self.keep:
                self.runs.append((lane, first, last, step))
            else:
                self.complete_until = min(self.complete_until, first)
            row = list(SHOWN).index(LANES[lane])
            for bucket in range((first - self.start) // self.width, (last - 1 - self.start) // self.width + 1):
                lo = max(first, self.start + bucket * self.width)
                hi = min(last, self.start + (bucket + 1) * self.width)
                self.buckets[row, bucket] += hi - lo


def parse_gemm(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise typer.BadParameter(f"expected MxNxK with positive integers, got {text!r}", param_hint="--gemm")
    m, n, k = (int(p) for p in parts)
    return m, n, k


def parse_window(text: str | None, cycles: int) -> tuple[int, int]:
    if text is None:
        return 0, cycles
    first, _, last = text.partition(":")
    try:
        start, end = int(first or 0), int(last) if last else cycles
    except ValueError:
        raise typer.BadParameter(f"expected A:B cycle numbers, got {text!r}", param_hint="--cycles") from None
    if not 0 <= start < end:
        raise typer.BadParameter(f"expected 0 <= A < B, got {text!r}", param_hint="--cycles")
    return start, min(end, cycles)


def trace_command(
    target: Annotated[str, typer.Option("--target", "-t", help="An accelerator target (name or file).")],
    gemm: Annotated[str, typer.Option("--gemm", help="GEMM shape MxNxK (M tokens, N outputs, K inputs).")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Weight format (default: the target's).")] = None,
    group_size: Annotated[int | None, typer.Option("--group-size", "-g", help="Weights per scale along K "
                                                   "(default: the target's; 0: one per output channel).")] = None,
    phase: Annotated[str, typer.Option("--phase", help="Array arrangement: 'prefill' or 'decode'.")] = "prefill",
    cycles: Annotated[str | None, typer.Option("--cycles", help="Window A:B of cycles to show (default: all).")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also save the window as a timeline PNG.")] = None,
    step: Annotated[bool, typer.Option("--step", help="Step through the cycles in this terminal (left/right: a "
                                       "cycle, n/p: next/previous change, g: jump, q: quit); --cycles A: "
                                       "start at A.")] = False,
) -> None:
    """Show a small GEMM on an accelerator cycle by cycle: which unit does what, when."""
    from bitsmith.simulator.engines import simulate_layer
    from bitsmith.simulator.simulate import accelerator

    m, n, k = parse_gemm(gemm)
    if step and png is not None:
        raise typer.BadParameter("--png draws a fixed window; it does not go with --step", param_hint="--png")
    accel = accelerator(target)
    problem = gemm_problem(accel, m, n, k, fmt, group_size)
    if step:
        from bitsmith.report_html.timeline import record_timeline
        from bitsmith.trace_stepper import require_terminal, step_through

        require_terminal()
        timeline = record_timeline(problem, accel, phase=phase)
        step_through(timeline, parse_window(cycles, timeline.cycles)[0], console)
        return
    result = simulate_layer(problem, accel, phase=phase)  # the totals first, to size the window
    start, end = parse_window(cycles, result.cycles)
    recorder = WindowRecorder(start, end, columns=max(20, console.width - 26))
    simulate_layer(problem, accel, phase=phase, engine="trace", sink=recorder)
    console.print(f"[bold]{problem.name}[/] on [bold]{accel.name}[/] ({phase}): {problem.weight_format} weights, "
                  f"{result.mapping}; {result.cycles} cycles; showing {start}:{end}, "
                  f"{recorder.width} cycle(s) per column")
    console.print(strip_table(recorder))
    console.print(runs_table(recorder))
    totals = ", ".join(f"{unit} {value}" for unit, value in result.busy_cycles.items())
    stalls = ", ".join(f"{cause} {value}" for cause, value in result.stall_cycles.items() if value)
    console.print(f"busy: {totals}\nstalls: {stalls or 'none'}; utilisation {result.utilisation:.1%}")
    if png is not None:
        save_png(recorder, png, f"{problem.name} on {accel.name} ({phase})")
        console.print(f"timeline written to {png}")


def gemm_problem(accel: Accelerator, m: int, n: int, k: int, fmt: str | None, group_size: int | None) -> GemmProblem:
    """The GEMM `m x n x k` in `fmt` (default: the target's default weights), with
    scales every `group_size` weights (default: the target's; 0 for none)."""
    from bitsmith.simulator.errors import SimulationError
    from bitsmith.simulator.problem import GemmProblem
    from bitsmith.targets.fields import format_bits

    name = fmt or accel.formats.default_weights
    if name not in accel.formats.weights:
        raise SimulationError(f"layer gemm: target {accel.name} takes weight formats "
                              f"{', '.join(accel.formats.weights)}, not {name!r}")
    group = accel.formats.group_size if group_size is None else (group_size or None)
    bits = format_bits(name)
    scale_bits = format_bits(accel.dequant.scale_format) if accel.dequant is not None else 16
    stored = bits + (scale_bits / group if group else 0.0)
    act_bits = max(format_bits(a) for a in accel.formats.activations)
    return GemmProblem("gemm", "linear", m, n, k, name, bits, stored, act_bits=act_bits, group_size=group)


def strip_table(recorder: WindowRecorder) -> Table:
    """One row per unit busy in the window: '█' busy the whole column, '▄' part of it."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("unit", style="bold", no_wrap=True)
    table.add_column("cycles", no_wrap=True)
    sizes = np.minimum(recorder.width, recorder.end - recorder.start - np.arange(recorder.buckets.shape[1])
                       * recorder.width)
    for row, label in enumerate(SHOWN.values()):
        busy = recorder.buckets[row]
        if busy.any():
            table.add_row(label, "".join("█" if b == s else "▄" if b else "·" for b, s in zip(busy, sizes,
                                                                                          strict=True)))
    return table


def runs_table(recorder: WindowRecorder) -> Table:
    """The window's busy intervals in start order (at most MAX_ROWS)."""
    from bitsmith.simulator.engines.trace import LANES

    runs = sorted(recorder.runs, key=lambda r: (r[1], list(SHOWN).index(LANES[r[0]])))
    table = Table(title=f"busy intervals (first {min(len(runs), MAX_ROWS)} of {len(runs)})")
    for column in ("unit", "from", "to", "cycles", "step"):
        table.add_column(column, justify="right" if column != "unit" else "left")
    for lane, first, last, step in runs[:MAX_ROWS]:
        table.add_row(SHOWN[LANES[lane]], str(first), str(last), str(last - first), str(step))
    return table


def save_png(recorder: WindowRecorder, path: Path, title: str) -> None:
    """The window's runs as horizontal bars, one row per unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bitsmith.simulator.engines.trace import LANES

    rows = [lane for lane in SHOWN if any(LANES[r[0]] == lane for r in recorder.runs)]
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.5))
    for y, lane in enumerate(rows):
        bars = [(first, last - first) for index, first, last, _ in recorder.runs if LANES[index] == lane]
        waiting = "stall" in lane or "wait" in SHOWN[lane]
        ax.broken_barh(bars, (y - 0.4, 0.8), color="tab:red" if waiting else "tab:blue")
    ax.set_yticks(range(len(rows)), [SHOWN[lane] for lane in rows])
    ax.set_xlim(recorder.start, recorder.end)
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
