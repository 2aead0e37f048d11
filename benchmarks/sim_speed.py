"""Simulator speed: the trace engine on a 32x32 array, the fast engine on llama2-7b.

Trace: bitmod's 32 x 32 prefill array on two GEMMs, the second with about 10x the
cycles of the first, printing simulated array cycles per second, busy PE-cycles
per second (every PE of a fold is stepped each cycle), and peak traced memory
(tracemalloc) while the timeline streams to a sink that only counts events: the
peak does not grow with the cycles. Fast: every layer problem of shape-only
llama2-7b (a 256-token prefill, then one decode step over a 256-token KV cache),
planned and simulated; lowering the models is timed apart. Run:
`.venv/bin/python benchmarks/sim_speed.py [--target bitmod]`.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.problem import GemmProblem, LayerProblem
from bitsmith.targets import Accelerator, load_target

TRACE_SHAPES = ((64, 64, 1024), (256, 128, 4096))


class CountingSink:
    """Counts the streamed events and keeps none of them."""

    def __init__(self) -> None:
        self.events = 0

    def __call__(self, events: np.ndarray) -> None:
        self.events += len(events)


def trace_rows(target: Accelerator) -> list[tuple[str, ...]]:
    rows = []
    for m, n, k in TRACE_SHAPES:
        problem = GemmProblem(f"{m}x{n}x{k}", "linear", m, n, k, "int6", 6, 6.0625, group_size=128)
        simulate_layer(problem, target, engine="trace")  # compiled code loaded before timing
        sink = CountingSink()
        tracemalloc.start()
        start = time.perf_counter()
        result = simulate_layer(problem, target, engine="trace", sink=sink)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((problem.name, f"{result.cycles:,}", f"{sink.events:,}", f"{seconds:.3f}",
                     f"{result.cycles / seconds / 1e3:,.0f} k", f"{result.actions['pe_cycle'] / seconds / 1e6:,.0f} M",
                     f"{peak / 2**20:.2f} MiB"))
    return rows


def llama_problems(target: Accelerator) -> dict[str, list[LayerProblem]]:
    from bitsmith.api import lower
    from bitsmith.compiler import prepare_weights
    from bitsmith.simulator.workload import workload

    return {phase: workload(prepare_weights(lower("llama2-7b", seq_len=256, phase=phase), target), target)
            for phase in ("prefill", "decode")}


def simulate_all(problems: dict[str, list[LayerProblem]], target: Accelerator) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    cycles = {phase: sum(simulate_layer(p, target, phase=phase).cycles for p in layer_problems)
              for phase, layer_problems in problems.items()}
    return time.perf_counter() - start, cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="bitmod", help="Target for the llama2-7b run (trace always uses bitmod).")
    args = parser.parse_args()
    console = Console()

    table = Table(title="trace engine, bitmod prefill array 32 x 32 (1024 PEs), int6 g128")
    for column in ("GEMM MxNxK", "cycles", "events", "seconds", "array cycles/s", "PE-cycles/s", "peak memory"):
        table.add_column(column, justify="right")
    for row in trace_rows(load_target("bitmod")):
        table.add_row(*row)
    console.print(table)

    target = load_target(args.target)
    start = time.perf_counter()
    problems = llama_problems(target)
    lowered = time.perf_counter() - start
    cold, cycles = simulate_all(problems, target)
    warm, _ = simulate_all(problems, target)
    gemms = sum(isinstance(p, GemmProblem) for ps in problems.values() for p in ps)
    total = sum(len(ps) for ps in problems.values())
    table = Table(title=f"fast engine, llama2-7b shape-only on {target.name}: 256-token prefill + 1 decode step")
    for column in ("problems (GEMM)", "prefill cycles", "decode cycles", "first run s", "warm run s", "lowering s"):
        table.add_column(column, justify="right")
    table.add_row(f"{total} ({gemms})", f"{cycles['prefill']:,}", f"{cycles['decode']:,}", f"{cold:.3f}",
                  f"{warm:.3f}", f"{lowered:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
