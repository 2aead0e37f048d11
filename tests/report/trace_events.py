"""The trace engine's raw events, read without the report's code: the reference
the report's timeline is checked against."""

from __future__ import annotations


def trace_busy(target: str, gemm: tuple[int, int, int]) -> tuple[int, list[tuple[str, int, int, int]]]:
    """Independent of the report: the trace engine's raw events for GEMM `gemm` on
    `target` (cycles, [(lane key, start, end, step)])."""
    from bitsmith.simulator.engines import simulate_layer
    from bitsmith.simulator.engines.trace import LANES
    from bitsmith.simulator.simulate import accelerator
    from bitsmith.trace_cli import gemm_problem

    accel = accelerator(target)
    events: list[tuple[str, int, int, int]] = []
    result = simulate_layer(gemm_problem(accel, *gemm, None, None), accel, engine="trace",
                            sink=lambda batch: events.extend((LANES[lane], s, e, step) for lane, s, e, step in
                                                             batch.tolist()))
    return result.cycles, events


def busy_at(events: list[tuple[str, int, int, int]], cycle: int) -> set[tuple[str, int]]:
    return {(lane, step) for lane, start, end, step in events if start <= cycle < end}
