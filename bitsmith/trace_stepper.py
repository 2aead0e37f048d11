"""`bitsmith trace --step`: walk one GEMM's timeline a cycle at a time in a terminal.

A student asking "what is every unit doing at cycle 57?" wants to move a cursor,
not read a table of intervals. Three parts, so that everything but the terminal
itself is testable without one:

- `Stepper` is the state (cursor, jump prompt, window of cycles shown) and changes
  only through `feed(key)`, with key names ("right", "n", "7", "enter", ...);
- `render` draws a stepper with rich: one strip per unit around the cursor and the
  readout "cycle N: busy units";
- `require_terminal` and `step_through` are the only code touching the TTY:
  cbreak mode, raw bytes decoded by `decode_keys`, redrawn in a rich `Live`.

The timeline is `report_html.timeline.Timeline`, the one the HTML report pages
through, so the terminal and the browser show the same trace engine events.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bitsmith.ir.errors import BitsmithError
from bitsmith.report_html.timeline import Timeline
from bitsmith.trace_cli import SHOWN

# Terminal byte sequences and the key names `Stepper.feed` takes; any other
# character is its own name ("n", "7"). Both cursor-key modes' arrows are listed.
SEQUENCES = {
    "\x1b[C": "right", "\x1bOC": "right", "\x1b[D": "left", "\x1bOD": "left",
    "\r": "enter", "\n": "enter", "\x7f": "backspace", "\x08": "backspace", "\x1b": "escape",
}
HELP = "←/→ cycle   n/p next/previous change   g jump to a cycle   q quit"
LABEL_WIDTH = max(len(label) for label in SHOWN.values())


class NotATerminalError(BitsmithError):
    """`--step` asked for where keys cannot be read or the screen redrawn."""


def decode_keys(text: str) -> list[str]:
    """The key names in a chunk read from the terminal, escape sequences first
    (longest match), so "\\x1b[C" is one "right" and not escape, "[", "C"."""
    keys, at = [], 0
    by_length = sorted(SEQUENCES, key=len, reverse=True)
    while at < len(text):
        sequence = next((s for s in by_length if text.startswith(s, at)), text[at])
        keys.append(SEQUENCES.get(sequence, sequence))
        at += len(sequence)
    return keys


@dataclass
class Stepper:
    """The cursor over `timeline`'s cycles (module docstring). `half_width`: cycles
    shown each side of the cursor. `jump_text` is the cycle number being typed after
    "g", None when no jump is under way; `done` turns true on "q"."""

    timeline: Timeline
    half_width: int = 30
    cursor: int = 0
    jump_text: str | None = None
    done: bool = False
    # Per lane (index into timeline.lanes): run starts, ends and steps in start order;
    # a lane's runs never overlap, so the run holding a cycle is found by bisection.
    _lanes: list[tuple[list[int], list[int], list[int]]] = field(init=False, repr=False)
    _changes: list[int] = field(init=False, repr=False)  # cycles where the busy set changes

    def __post_init__(self) -> None:
        self._lanes = [([], [], []) for _ in self.timeline.lanes]
        for lane, start, end, step in sorted(self.timeline.runs, key=lambda run: run[1]):
            for column, value in zip(self._lanes[lane], (start, end, step), strict=True):
                column.append(value)
        edges = {cycle for run in self.timeline.runs for cycle in run[1:3]}
        self._changes = sorted(cycle for cycle in edges if 0 <= cycle < self.timeline.cycles)
        self.cursor = self._clamp(self.cursor)

    @property
    def last_cycle(self) -> int:
        return max(self.timeline.cycles - 1, 0)

    def _clamp(self, cycle: int) -> int:
        return min(max(cycle, 0), self.last_cycle)

    def feed(self, key: str) -> None:
        """Apply one key: right/left a cycle, n/p the next/previous cycle where some
        unit starts or stops, g then digits then enter a jump (escape, g or q cancel
        it), q quit. Other keys do nothing."""
        if self.jump_text is not None:
            self._feed_jump(key)
        elif key == "right":
            self.cursor = self._clamp(self.cursor + 1)
        elif key == "left":
            self.cursor = self._clamp(self.cursor - 1)
        elif key == "n":
            later = bisect_right(self._changes, self.cursor)
            self.cursor = self._changes[later] if later < len(self._changes) else self.last_cycle
        elif key == "p":
            earlier = bisect_left(self._changes, self.cursor)
            self.cursor = self._changes[earlier - 1] if earlier else 0
        elif key == "g":
            self.jump_text = ""
        elif key == "q":
            self.done = True

    def _feed_jump(self, key: str) -> None:
        if key.isdigit():
            self.jump_text = (self.jump_text or "") + key
        elif key == "backspace":
            self.jump_text = (self.jump_text or "")[:-1]
        elif key == "enter":
            if self.jump_text:
                self.cursor = self._clamp(int(self.jump_text))
            self.jump_text = None
        elif key in ("escape", "q", "g"):
            self.jump_text = None

    def busy(self, cycle: int | None = None) -> list[tuple[str, int]]:
        """(lane key, step) of every unit busy in `cycle` (default: the cursor's), in
        display order."""
        cycle = self.cursor if cycle is None else cycle
        busy = []
        for key, (starts, ends, steps) in zip(self.timeline.lanes, self._lanes, strict=True):
            run = bisect_right(starts, cycle) - 1
            if run >= 0 and cycle < ends[run]:
                busy.append((key, steps[run]))
        return busy

    def window(self) -> range:
        """The cycles shown: `half_width` each side of the cursor, shifted to stay
        inside the GEMM at its ends."""
        width = 2 * self.half_width + 1
        first = max(0, min(self.cursor - self.half_width, self.timeline.cycles - width))
        return range(first, min(self.timeline.cycles, first + width))

    def readout(self) -> str:
        """The line a student reads: "cycle N of T: " and the busy units with their steps."""
        units = ", ".join(f"{SHOWN[key]} (step {step})" for key, step in self.busy()) or "no unit busy"
        line = f"cycle {self.cursor} of {self.timeline.cycles}: {units}"
        if self.cursor >= self.timeline.complete_until:
            line += f" (runs after cycle {self.timeline.complete_until} were not kept: the list may be short)"
        return line


def render(stepper: Stepper) -> Group:
    """The title, one strip per unit over the window ('█' busy, '·' idle; the
    cursor's column reversed), the readout and the keys (or the jump prompt)."""
    shown = stepper.window()
    strips = Table(show_header=False, box=None, pad_edge=False)
    strips.add_column("unit", style="bold", no_wrap=True, min_width=LABEL_WIDTH)
    strips.add_column("cycles", no_wrap=True)
    busy_sets = [{key for key, _ in stepper.busy(cycle)} for cycle in shown]
    first, last = str(shown.start), str(shown.stop - 1)
    strips.add_row("cycle", first + " " * max(1, len(shown) - len(first) - len(last)) + last)
    for key in stepper.timeline.lanes:
        strip = Text()
        for cycle, busy in zip(shown, busy_sets, strict=True):
            mark = "█" if key in busy else "·"
            strip.append(mark, style="reverse" if cycle == stepper.cursor else "")
        strips.add_row(SHOWN[key], strip)
    prompt = HELP if stepper.jump_text is None else f"jump to cycle: {stepper.jump_text}▏ (enter: go, escape: cancel)"
    return Group(Text(stepper.timeline.title, style="bold"), strips, Text(stepper.readout(), style="bold"),
                 Text(prompt, style="dim"))


def require_terminal() -> None:
    """Raise NotATerminalError unless stdin and stdout are a terminal: a pipe can
    neither send single keys nor show a redraw. Checked before simulating."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise NotATerminalError("--step reads keys and redraws the screen: run it in a terminal, "
                                "not through a pipe or a redirect")


def step_through(timeline: Timeline, start: int, console: Console) -> None:
    """Run the stepper on this terminal (`require_terminal` first) from cycle
    `start` until "q"; the terminal's mode is restored however it ends."""
    import os
    import termios
    import tty

    from rich.live import Live

    half_width = max(5, min(60, (console.width - LABEL_WIDTH - 4) // 2))
    stepper = Stepper(timeline, half_width=half_width, cursor=start)
    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor)
        with Live(render(stepper), console=console, auto_refresh=False) as live:
            while not stepper.done:
                for key in decode_keys(os.read(descriptor, 32).decode(errors="ignore")):
                    stepper.feed(key)
                live.update(render(stepper), refresh=True)
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)
