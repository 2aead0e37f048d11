"""Batch-1 GEMV, 4096 x 4096, on this CPU: TVM packed low-bit kernels vs torch.

Rows: torch fp32 `nn.Linear`, torch int8 dynamic-quantised Linear
(`quantize_dynamic`), a dense fp32 TVM kernel, and the packed low-bit kernels
(`bitsmith.backends.tvm`) at W8 / W4 / W3 / W2 / ternary / W1 (BitNet's
{-1, +1}) / FP4 (E2M1) / BitMoD4, groups of 128, on each path: "dequant" (float
dequantise-then-multiply, exact), "int8 VNNI" (int8 activations per block of 32,
vpdpbusd), "LUT" (T-MAC-style int8 tables of 4 activations, vpermb; 1-4-bit
weights) and "LUT f32" (the same with float32 tables, vpermps: exact, at the
int8 tables' task size); FP4, BitMoD4 and W1 reach the VNNI path through a byte table
(`packing.IntegerTable`). Each path's rows per task come from the tuning search
(`tuning.tune`, cached under XDG_CACHE_HOME) in the regime the goals are about:
each candidate timed with its weights flushed from the caches; "tuned best"
names the path and tile the search picks over all paths.
Two regimes: *cache-resident* (one matrix called again and again; W4's 8 MiB
stays in the 32 MiB L3) and *DRAM-bound* (calls cycle through distinct matrices
totalling >= 96 MiB, three times the L3, so every call streams its weight from
DRAM). Every row is timed the same way: round-robin calls with the arguments made
once, median of per-call wall times after a warm-up.

GB/s counts the bytes a call must read: packed codes, scales, (table, format
ids), activations. The reference is the all-core streaming-read bandwidth,
measured in the same run, before and after the rows (the better is used): the
higher of two parallel sums over 1 GiB (32 times the L3), each the fastest of
the passes repeated for a few seconds after a warm-up: a numba `prange` over one
contiguous chunk per thread (float64; LLVM keeps four independent 8-lane zmm
accumulators, so the loop is bound by loads, not add latency) and a TVM
parallel, vectorised sum. The numba sum's median pass and its one-thread figure
are printed beside it. On the 2-vCPU VM this was written on, the all-core
figure is bimodal: most passes read about 33 GB/s, but in bursts lasting
seconds (about a fifth of passes over 30 s) 50-64 GB/s; one thread reads
28-33 GB/s throughout. Hence the fastest pass over seconds is the reference,
an upper bound; the kernel rows' medians mix both phases.
The speed-up columns divide the torch rows' time (same regime) by the row's.
The goals of the issue (W4 >= 8x torch fp32 and >= 1.3x torch int8, W2 >= 12x
and >= 2x, DRAM-bound; >= 50% of the all-core bandwidth on packed bytes) are
checked against the best path per width and printed with whether they are met.

Run: `.venv/bin/python benchmarks/gemv_cpu.py [--repeat 30] [--schemes W4 W2 ...]`;
about a minute on two cores (tuning results are cached). On a machine shared with other jobs the figures
move by tens of percent between runs: the bandwidth row is measured alongside, so
read the "% of bandwidth" column together with it.
"""

from __future__ import annotations

import os

# Two thread pools share the cores: neither may spin-wait after its work, or it
# steals the cores the other's next call needs (set before torch and tvm load).
os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", "0")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Every row's weights on transparent huge pages: TVM's through `memory`, torch's
# through its allocator's switch (numpy, the bandwidth sum's, asks by itself).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import tvm  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tvm import te  # noqa: E402

from bitsmith.backends.tvm.kernels import KernelSchedule  # noqa: E402
from bitsmith.backends.tvm.memory import device_tensors  # noqa: E402
from bitsmith.backends.tvm.packing import PackedWeight  # noqa: E402
from bitsmith.backends.tvm.runtime import PackedLinear, host_target  # noqa: E402
from bitsmith.backends.tvm.tuning import packings, tune  # noqa: E402
from bitsmith.ir.formats.quantize import quantize  # noqa: E402

N = K = 4096
GROUP = 128
DRAM_BYTES = 96 << 20  # three times the 32 MiB L3
BANDWIDTH_BYTES = 1 << 30  # 32 times the L3
# seconds of passes over BANDWIDTH_BYTES per candidate (all cores numba, TVM, one thread); the fastest counts
BANDWIDTH_SECONDS = (3.0, 1.0, 1.0)
SCHEMES = {"W8": "int8_sym", "W4": "int4_sym", "W3": "int3_sym", "W2": "int2_sym", "ternary": "ternary",
           "W1": "bipolar", "FP4": "fp4_e2m1", "BitMoD4": "bitmod4"}
PATHS = {"blocked": "dequant", "vnni": "int8 VNNI", "lut": "LUT"}
LUT_MAX_BITS = 4
# (width, x torch fp32, x torch int8) the issue asks for, DRAM-bound; and the bandwidth share
GOALS = (("W4", 8.0, 1.3), ("W2", 12.0, 2.0))
BANDWIDTH_GOAL = 0.5


@dataclass(frozen=True)
class Row:
    name: str
    cache_s: float
    dram_s: float
    bytes_per_call: int


def time_round_robin(calls: list[Callable[[], object]], repeat: int) -> float:
    """Median seconds per call, calling `calls` in turn `repeat` times each."""
    for call in calls:
        call()
    samples = []
    for _ in range(repeat):
        for call in calls:
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def copies_for_dram(nbytes: int) -> int:
    return max(2, math.ceil(DRAM_BYTES / nbytes))


@dataclass(frozen=True)
class Bandwidth:
    """Streaming-read bandwidths, bytes/s: all cores by numba (fastest and median pass)
    and by TVM (fastest), one thread by numba (fastest)."""
    numba_all: float
    numba_all_median: float
    tvm_all: float
    numba_one: float

    @property
    def all_core(self) -> float:
        return max(self.numba_all, self.tvm_all)


def pass_seconds(call: Callable[[], object], budget_s: float) -> list[float]:
    """Seconds of each call, repeated for `budget_s` after one warm-up call."""
    call()
    samples: list[float] = []
    while sum(samples) < budget_s:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


@numba.njit(fastmath=True)
def _chunk_sum(chunk: np.ndarray) -> float:
    # fastmath lets LLVM reassociate: four independent zmm accumulators, loads folded into the adds
    total = 0.0
    for i in range(chunk.size):
        total += chunk[i]
    return total


@numba.njit(parallel=True, fastmath=True)
def _parallel_sum(a: np.ndarray, chunks: int) -> float:
    """Sum of `a` in `chunks` contiguous chunks, one per thread (the last takes the remainder)."""
    size = a.size // chunks
    partial = np.zeros(chunks)
    for c in numba.prange(chunks):
        partial[c] = _chunk_sum(a[c * size:a.size if c == chunks - 1 else (c + 1) * size])
    return partial.sum()


def _vector_sum(rows: int, length: int) -> tvm.runtime.Module:
    """r[i, l] = sum_j a[i, j*64 + l]: rows in parallel, 64 float32 lanes (four
    independent 16-lane accumulators, so the add latency does not bound the read)."""
    a = te.placeholder((rows, length), "float32", name="a")
    j = te.reduce_axis((0, length // 64), "j")
    r = te.compute((rows, 64), lambda i, lane: te.sum(a[i, j * 64 + lane], axis=j), name="r")
    sch = tvm.s_tir.Schedule(te.create_prim_func([a, r]))
    block = sch.get_sblock("r")
    i, lane, j = sch.get_loops(block)
    sch.reorder(i, j, lane)
    sch.parallel(i)
    unrolled, vector = sch.split(lane, [None, 16])
    sch.unroll(unrolled)
    sch.vectorize(vector)
    sch.decompose_reduction(block, j)
    return tvm.compile(sch.mod, target=host_target()).jit()


def numba_pass_seconds(threads: int, budget_s: float) -> list[float]:
    """Seconds per `_parallel_sum` pass over BANDWIDTH_BYTES on `threads` threads."""
    a = np.ones(BANDWIDTH_BYTES // 8)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return pass_seconds(lambda: _parallel_sum(a, threads), budget_s)
    finally:
        numba.set_num_threads(previous)


def tvm_pass_seconds(budget_s: float) -> list[float]:
    """Seconds per all-core pass of the TVM parallel sum over BANDWIDTH_BYTES."""
    rows = 64 * (os.cpu_count() or 1)
    length = BANDWIDTH_BYTES // 4 // rows
    module, dev = _vector_sum(rows, length), tvm.cpu()
    a = device_tensors([np.ones((rows, length), np.float32)], dev)[0]
    r = tvm.runtime.empty((rows, 64), "float32", dev)
    return pass_seconds(lambda: module["main"](a, r), budget_s)


def streaming_bandwidth() -> Bandwidth:
    all_s, tvm_s, one_s = BANDWIDTH_SECONDS
    numba_all = numba_pass_seconds(os.cpu_count() or 1, all_s)
    return Bandwidth(numba_all=BANDWIDTH_BYTES / min(numba_all),
                     numba_all_median=BANDWIDTH_BYTES / statistics.median(numba_all),
                     tvm_all=BANDWIDTH_BYTES / min(tvm_pass_seconds(tvm_s)),
                     numba_one=BANDWIDTH_BYTES / min(numba_pass_seconds(1, one_s)))


def _dense_fp32() -> tvm.runtime.Module:
    """Dense fp32 GEMV y[n] = sum_k x[k] w[n, k], the same parallel-rows,
    16-lane schedule as the packed kernels, for a like-for-like fp32 row."""
    x = te.placeholder((1, K), "float32", name="x")
    w = te.placeholder((N, K), "float32", name="w")
    j = te.reduce_axis((0, K // 16), "j")
    p = te.compute((1, N, 16), lambda m, n, lane: te.sum(x[m, j * 16 + lane] * w[n, j * 16 + lane], axis=j), name="p")
    lr = te.reduce_axis((0, 16), "lr")
    y = te.compute((1, N), lambda m, n: te.sum(p[m, n, lr], axis=lr), name="y")
    sch = tvm.s_tir.Schedule(te.create_prim_func([x, w, y]))
    _, n, _ = sch.get_loops(sch.get_sblock("y"))
    outer, inner = sch.split(n, [None, 4])
    sch.parallel(outer)
    sch.compute_at(sch.get_sblock("p"), inner)
    lane, red = sch.get_loops(sch.get_sblock("p"))[-2:]
    sch.reorder(red, lane)
    sch.vectorize(lane)
    sch.set_scope(sch.get_sblock("p"), 0, "local")
    return tvm.compile(sch.mod, target=host_target()).jit()


def torch_rows(x: np.ndarray, repeat: int) -> list[Row]:
    xt = torch.from_numpy(x)
    rows = []
    for name, quantised in (("torch fp32 nn.Linear", False), ("torch int8 dynamic Linear", True)):
        bytes_per = N * K * (1 if quantised else 4)
        layers = []
        for _ in range(copies_for_dram(bytes_per)):
            layer = torch.nn.Linear(K, N)
            if quantised:
                layer = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear},
                                                               dtype=torch.qint8)
            layers.append(layer)
        calls = [lambda layer=layer: layer(xt) for layer in layers]
        with torch.inference_mode():
            rows.append(Row(name, time_round_robin(calls[:1], repeat), time_round_robin(calls, repeat),
                            bytes_per + x.nbytes))
    return rows


def tvm_fp32_row(x: np.ndarray, repeat: int, rng: np.random.Generator) -> Row:
    module, dev = _dense_fp32(), tvm.cpu()
    xs = tvm.runtime.tensor(x, dev)
    y = tvm.runtime.empty((1, N), "float32", dev)
    weights = [device_tensors([rng.standard_normal((N, K), np.float32)], dev)[0]
               for _ in range(copies_for_dram(N * K * 4))]
    calls = [lambda w=w: module["main"](xs, w, y) for w in weights]
    return Row("TVM fp32 dense", time_round_robin(calls[:1], repeat), time_round_robin(calls, repeat),
               N * K * 4 + x.nbytes)


def packed_row(name: str, packed: PackedWeight, schedule: KernelSchedule, x: np.ndarray, repeat: int,
               tables: str = "int8") -> Row:
    # every PackedLinear copies its arrays: distinct storage, so the DRAM-bound
    # round robin streams each call's weight from memory
    layers = [PackedLinear(packed, 1, schedule=schedule, tables=tables) for _ in range(copies_for_dram(packed.nbytes))]
    calls = [layer.bind(x) for layer in layers]
    return Row(name, time_round_robin(calls[:1], repeat), time_round_robin(calls, repeat), packed.nbytes + x.nbytes)


def packed_rows(label: str, scheme: str, x: np.ndarray, repeat: int, rng: np.random.Generator) -> list[Row]:
    """One row per kernel path the host runs for this width (its rows per task
    tuned), then the tuned best over all paths."""
    spec = quantize(rng.standard_normal((N, K)).astype(np.float32), scheme, group_size=GROUP)
    allowed = tuple(layout for layout in PATHS if layout != "lut" or spec.element_bits <= LUT_MAX_BITS)
    packed = packings(spec, allowed)  # the paths this host runs for this format
    layouts = tuple(packed)
    rows, measured = [], {}
    for layout in layouts:
        schedule = tune(spec, layouts=(layout,), from_memory=True).schedule
        rows.append(packed_row(f"{PATHS[layout]} {label} ({scheme}) rows={schedule.rows}", packed[layout],
                               schedule, x, repeat))
        measured[layout, schedule] = rows[-1]
        if layout == "lut":  # the exact variant: float32 tables, the int8 tables' task size
            rows.append(packed_row(f"LUT f32 {label} ({scheme}) rows={schedule.rows}", packed[layout], schedule, x,
                                   repeat, tables="float32"))
    best = tune(spec, layouts=layouts, from_memory=True)
    name = f"tuned best {label}: {PATHS[best.layout]} rows={best.schedule.rows}"
    same = measured.get((best.layout, best.schedule))
    rows.append(Row(name, same.cache_s, same.dram_s, same.bytes_per_call) if same
                else packed_row(name, packed[best.layout], best.schedule, x, repeat))
    return rows


def goal_table(rows: dict[str, list[Row]], fp32: Row, int8: Row, bandwidth: float) -> Table:
    """The issue's goals against the best path per width (DRAM-bound)."""
    table = Table(title="Goals (DRAM-bound, best path per width)")
    for column in ("goal", "measured", "met"):
        table.add_column(column, justify="left" if column == "goal" else "right")
    for label, over_fp32, over_int8 in GOALS:
        if label not in rows:
            continue
        best = min(rows[label][:-1], key=lambda r: r.dram_s)
        for name, baseline, target in (("torch fp32", fp32, over_fp32), ("torch int8 dynamic", int8, over_int8)):
            ratio = baseline.dram_s / best.dram_s
            table.add_row(f"{label} >= {target:g}x {name}", f"{ratio:.2f}x ({best.name})",
                          "yes" if ratio >= target else "no")
        share = best.bytes_per_call / best.dram_s / bandwidth
        table.add_row(f"{label} >= {BANDWIDTH_GOAL:.0%} of all-core bandwidth", f"{share:.0%}",
                      "yes" if share >= BANDWIDTH_GOAL else "no")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="round-robin passes per row")
    parser.add_argument("--schemes", nargs="*", default=list(SCHEMES), choices=list(SCHEMES))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, K)).astype(np.float32)

    load_before = os.getloadavg()
    bandwidth_before = streaming_bandwidth()
    baselines = torch_rows(x, args.repeat)
    rows = [*baselines, tvm_fp32_row(x, args.repeat, rng)]
    per_width = {label: packed_rows(label, SCHEMES[label], x, args.repeat, rng) for label in args.schemes}
    rows += [row for label in args.schemes for row in per_width[label]]
    bandwidth_after = streaming_bandwidth()
    bandwidth = max(bandwidth_before.all_core, bandwidth_after.all_core)

    fp32, int8 = baselines
    table = Table(title=f"GEMV {N}x{K} batch 1, {os.cpu_count()} cores, {os.environ['TVM_NUM_THREADS']} TVM threads, target {host_target()}, load average "
                        f"{load_before[0]:.2f} at the start; "
                        f"all-core streaming read {bandwidth / 1e9:.1f} GB/s "
                        f"(best of {bandwidth_before.all_core / 1e9:.1f} before, "
                        f"{bandwidth_after.all_core / 1e9:.1f} after)")
    for column in ("kernel", "MiB read", "cache ms", "DRAM ms", "DRAM GB/s", "% of bw",
                   "x torch fp32 (DRAM)", "x torch int8 (DRAM)", "x torch fp32 (cache)"):
        table.add_column(column, justify="left" if column == "kernel" else "right")
    for row in rows:
        gbps = row.bytes_per_call / row.dram_s
        table.add_row(row.name, f"{row.bytes_per_call / 2**20:.2f}", f"{row.cache_s * 1e3:.3f}",
                      f"{row.dram_s * 1e3:.3f}", f"{gbps / 1e9:.1f}", f"{100 * gbps / bandwidth:.0f}",
                      f"{fp32.dram_s / row.dram_s:.2f}", f"{int8.dram_s / row.dram_s:.2f}",
                      f"{fp32.cache_s / row.cache_s:.2f}")
    console = Console(width=200)
    console.print(table)
    console.print(goal_table(per_width, fp32, int8, bandwidth))
    for when, measured in (("before", bandwidth_before), ("after", bandwidth_after)):
        console.print(f"streaming read {when} the rows, GB/s: all cores numba {measured.numba_all / 1e9:.1f} "
                      f"(median pass {measured.numba_all_median / 1e9:.1f}), TVM {measured.tvm_all / 1e9:.1f}; "
                      f"one thread numba {measured.numba_one / 1e9:.1f}")
    console.print(f"load average (1, 5, 15 min) after the run: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
