"""`bitsmith trace --step`: the stepper's state machine, fed key names without a
terminal, against the trace engine's raw events (trace_events.py, read without
the stepper's or the report's code), its drawing, and the CLI's refusal off a TTY."""

from __future__ import annotations

import io
import os
import select
import signal
import sys
import time

import pytest
from rich.console import Console
from trace_events import busy_at, trace_busy

from bitsmith.report_html.timeline import Timeline, record_timeline
from bitsmith.simulator.simulate import accelerator
from bitsmith.trace_cli import SHOWN, gemm_problem
from bitsmith.trace_stepper import Stepper, decode_keys, render

# lut_tensor_core: a table builder and lookups (two PE stages); stripes: one stage, a drain.
CASES = {"lut_tensor_core": (2, 64, 64), "stripes": (8, 16, 64)}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Timeline, int, list[tuple[str, int, int, int]]]:
    target, gemm = request.param, CASES[request.param]
    accel = accelerator(target)
    cycles, events = trace_busy(target, gemm)
    return record_timeline(gemm_problem(accel, *gemm, None, None), accel), cycles, events


def changes(events: list[tuple[str, int, int, int]], cycles: int) -> list[int]:
    """Cycles whose busy set differs from the cycle before's, by brute force."""
    return [c for c in range(1, cycles) if busy_at(events, c) != busy_at(events, c - 1)]


def test_right_walks_every_cycle_and_shows_its_busy_units(case) -> None:
    timeline, cycles, events = case
    stepper = Stepper(timeline)
    assert timeline.cycles == cycles
    for cycle in range(cycles):
        assert stepper.cursor == cycle
        assert set(stepper.busy()) == busy_at(events, cycle), cycle
        stepper.feed("right")
    assert stepper.cursor == cycles - 1  # stops at the last cycle
    for _ in range(cycles + 3):
        stepper.feed("left")
    assert stepper.cursor == 0


def test_next_and_previous_change_visit_exactly_the_change_cycles(case) -> None:
    timeline, cycles, events = case
    expected = changes(events, cycles)
    stepper, visited = Stepper(timeline), []
    for _ in range(len(expected)):
        stepper.feed("n")
        visited.append(stepper.cursor)
    assert visited == expected
    stepper.feed("n")
    assert stepper.cursor == cycles - 1
    earlier = [c for c in reversed(expected) if c < cycles - 1]
    backwards = []
    for _ in earlier:
        stepper.feed("p")
        backwards.append(stepper.cursor)
    assert backwards == earlier
    stepper.feed("p")
    assert stepper.cursor == 0


def test_jump_takes_digits_enter_clamps_and_escape_cancels(case) -> None:
    timeline, cycles, events = case
    stepper = Stepper(timeline)
    for key in ["g", "4", "7", "enter"]:
        stepper.feed(key)
    assert (stepper.cursor, stepper.jump_text) == (47, None)
    assert set(stepper.busy()) == busy_at(events, 47)
    for key in ["g", "1", "9", "backspace", "2", "enter"]:
        stepper.feed(key)
    assert stepper.cursor == 12
    for key in ["g", "5", "escape", "right"]:
        stepper.feed(key)
    assert stepper.cursor == 13  # the jump was cancelled, "right" moved on
    for key in ["g", "9", "9", "9", "9", "9", "enter"]:
        stepper.feed(key)
    assert stepper.cursor == cycles - 1
    for key in ["g", "q"]:  # "q" while typing cancels the jump, a second one quits
        stepper.feed(key)
    assert not stepper.done
    stepper.feed("q")
    assert stepper.done


def test_window_follows_the_cursor_and_stays_inside(case) -> None:
    timeline, cycles, _ = case
    stepper = Stepper(timeline, half_width=10, cursor=50)
    assert stepper.window() == range(40, 61)
    stepper.feed("left")
    assert stepper.window() == range(39, 60)
    assert Stepper(timeline, half_width=10, cursor=3).window() == range(0, 21)
    assert Stepper(timeline, half_width=10, cursor=10**6).window() == range(cycles - 21, cycles)


def test_render_shows_the_readout_and_one_strip_per_unit(case) -> None:
    timeline, cycles, events = case
    stepper = Stepper(timeline, half_width=20, cursor=60)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(render(stepper))
    text = console.file.getvalue()
    busy = sorted(busy_at(events, 60), key=lambda unit: list(SHOWN).index(unit[0]))
    units = ", ".join(f"{SHOWN[lane]} (step {step})" for lane, step in busy)
    assert f"cycle 60 of {cycles}: {units or 'no unit busy'}" in text
    strips = [line for line in text.splitlines() if any(line.startswith(SHOWN[lane]) for lane in timeline.lanes)]
    assert len(strips) == len(timeline.lanes)
    assert all(len(line.split()[-1]) == 41 for line in strips)  # 20 cycles each side of the cursor
    stepper.feed("g")
    stepper.feed("8")
    console.file = io.StringIO()
    console.print(render(stepper))
    assert "jump to cycle: 8" in console.file.getvalue()


def test_decode_keys_reads_arrows_as_one_key() -> None:
    assert decode_keys("\x1b[C\x1b[D\x1bOCng12\r\x7f\x1bq") == [
        "right", "left", "right", "n", "g", "1", "2", "enter", "backspace", "escape", "q"]


def test_step_off_a_terminal_is_one_line(cli) -> None:
    # Under pytest stdout is captured: not a terminal, so --step refuses before simulating.
    code, out, err = cli("trace", "--target", "lut_tensor_core", "--gemm", "2x64x64", "--step")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "run it in a terminal" in err
    code, _, err = cli("trace", "--target", "lut_tensor_core", "--gemm", "2x64x64", "--step", "--png", "t.png")
    assert code == 2 and "does not go with --step" in err


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="needs a POSIX pseudo-terminal")
def test_step_in_a_pseudo_terminal_moves_and_quits() -> None:
    # The TTY path end to end: cbreak mode, arrow bytes, a jump, "q" ending with status 0.
    import pty

    pid, terminal = pty.fork()
    if pid == 0:  # the child: bitsmith on the pseudo-terminal
        os.environ["COLUMNS"] = "100"
        os.execv(sys.executable, [sys.executable, "-c", "from bitsmith.cli import main; main()", "trace",
                                  "--target", "lut_tensor_core", "--gemm", "2x64x64", "--step"])
    shown, done, status = b"", 0, 0

    def read_until(marker: bytes, seconds: float = 60) -> None:
        nonlocal shown
        deadline = time.monotonic() + seconds
        while marker not in shown and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                try:
                    shown += os.read(terminal, 65536)
                except OSError:  # the child closed the terminal
                    return

    try:
        read_until(b"q quit")
        for key in (b"\x1b[C", b"\x1b[C"):
            os.write(terminal, key)
        read_until(b"cycle 2 of 209")
        os.write(terminal, b"g57\r")
        read_until(b"cycle 57 of 209")
        os.write(terminal, b"q")
        deadline = time.monotonic() + 30
        while not done and time.monotonic() < deadline:
            read_until(b"never shown", seconds=0.2)  # keep the terminal drained while it exits
            done, status = os.waitpid(pid, os.WNOHANG)
    finally:
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert b"cycle 2 of 209: DRAM load (step 0), stall: wait DRAM (step 0)" in shown
    assert b"cycle 57 of 209: PEs computing (step 0)" in shown
    assert done and os.waitstatus_to_exitcode(status) == 0
