"""Stripes, Loom, Bit Fusion and LUT Tensor Core on their papers' own style of
workload, simulated, beside the throughput laws their papers state.

The classic designs (FACTS §4) were evaluated on CNNs whose layers run at
profiled per-layer precisions; LUT Tensor Core (FACTS §3.2) on mixed-precision
GEMMs. Their headline numbers (Stripes 1.92x over DaDianNao, Loom 4.38x, Bit
Fusion 3.9x over Eyeriss, LUT Tensor Core 1.44x compute density) are end-to-end
claims against other machines, so they are printed as context only. What can be
compared number for number is each paper's throughput law against the same
engine at full width, and that is what `rows` computes, with the cycle model
(`simulate_layer`, both engines agree), never the formula:

- Stripes: speedup over the same engine with 16-bit activations (128 16-bit
  MACs' worth of serial lanes either way), ideal 16/p_a per layer;
- Loom: over the same engine at 16 x 16 bits, ideal 256/(p_a p_w) for a conv
  layer and 16/p_w for a fully-connected one (no weight reuse);
- Bit Fusion: over the same fusion units at 8 x 8 bits, ideal = fused products
  per cycle, 1 / 4 / 16 at 8 / 4 / 2 bits;
- LUT Tensor Core: MACs per cycle and cycles per M2 N64 K4 tile at W weight
  bits, ideal 512/W and W.

The CNN is the zoo's `resnet-tiny` (its conv and FC layers; the papers count no
pooling or elementwise work), at batch 1. Each table also has one compute-bound
GEMM, where the simulated ratio must meet the law (the test asserts it); on the
small CNN layers it falls short by the array's fill and skew (a fixed cost per
fold that does not shrink with the bits) and by DRAM time where a layer moves more
bytes than its shortened compute hides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bitsmith.fidelity.bitmod_study import TOLERANCE
from bitsmith.fidelity.tables import grouped_bars
from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.problem import GemmProblem
from bitsmith.targets import Accelerator, load_target

CNN = "resnet-tiny"
FULL = 16          # the 16-bit engine Stripes and Loom are measured against (FACTS §4)
FUSED = 8          # Bit Fusion's fused width (bitfusion.yaml fusion.fused_bits)
# Per-layer (activation, weight) precisions in the style of Stripes' and Loom's
# profiles (FACTS §4: per-layer p_a, and p_w for Loom): first and last layers and the
# shortcut wider, deeper layers narrower. Chosen for this comparison, not profiled.
PRECISIONS: dict[str, tuple[int, int]] = {
    "stem.0": (8, 8), "layer1.conv1": (7, 7), "layer1.conv2": (7, 6), "layer2.downsample.0": (8, 8),
    "layer2.conv1": (6, 6), "layer2.conv2": (5, 5), "fc": (8, 7),
}
# A layer large enough that compute hides its DRAM traffic on every design: a
# VGG-style 3x3 conv on a 28x28 map with 128 channels in and out (im2col GEMM).
COMPUTE_BOUND = GemmProblem("conv 28x28 128->128", "conv2d", 784, 128, 1152, "i16", 16, 16.0)
# LUT Tensor Core's own workload: an mpGEMM with low-bit weights and FP16 activations,
# with a long reduction (an LLM projection's) so the array's skew is amortised.
LUT_GEMM = GemmProblem("mpGEMM 256x1024x4096", "linear", 256, 1024, 4096, "int2", 2, 2.0)
LUT_TILE_MACS = 2 * 64 * 4   # M2 N64 K4 (FACTS §3.2)
PUBLISHED = {
    "stripes": "Stripes (MICRO 2016): 1.92x average, 1.30-4.51x, over DaDianNao with profiled p_a (FACTS §4)",
    "loom": "Loom (DAC 2018): 4.38x speedup, 3.54x energy efficiency, vs an equally provisioned 16b engine "
            "(FACTS §4)",
    "bitfusion": "Bit Fusion (ISCA 2018): 3.9x speedup, 5.1x energy vs Eyeriss (FACTS §4)",
    "lut-tc": "LUT Tensor Core (ISCA 2025): 1.44x compute density and energy efficiency vs the previous LUT "
              "accelerator (FACTS §3.2)",
}
TITLES = {
    "stripes": "Stripes: speedup over the same engine at 16-bit activations (ideal 16/p_a)",
    "loom": "Loom: speedup over the same engine at 16x16 bits (ideal 256/(p_a p_w) conv, 16/p_w FC)",
    "bitfusion": "Bit Fusion: speedup over 8x8-bit operands (ideal: fused products per cycle)",
    "lut-tc": "LUT Tensor Core: MACs per cycle and cycles per M2N64K4 tile vs weight bits (ideal 512/W, W)",
}
PAPERS = tuple(TITLES)


@dataclass(frozen=True)
class Row:
    """One compared ratio: the law's value, the simulated one, and the share of the
    narrow run's cycles the array waited on DRAM (the rest of a shortfall is the
    array's fill, skew and drain, which do not shrink with the bits)."""

    row: str
    bits: str
    ideal: float
    simulated: float
    dram_stalled: float

    @property
    def gap(self) -> float:
        return self.simulated / self.ideal - 1


@cache
def cnn_layers() -> tuple[GemmProblem, ...]:
    """`resnet-tiny`'s conv and FC layers as GEMMs (shapes only; precisions are set per design)."""
    from bitsmith.api import lower
    from bitsmith.compiler import prepare_weights
    from bitsmith.simulator.workload import workload

    base = load_target("fp16_mac")
    problems = workload(prepare_weights(lower(CNN), base), base)
    return tuple(p for p in problems if isinstance(p, GemmProblem))


def at_bits(problem: GemmProblem, act_bits: int, weight_bits: int) -> GemmProblem:
    """`problem` with integer operands of these widths (16: the full-width i16)."""
    name = "i16" if weight_bits == FULL else f"int{weight_bits}"
    return replace(problem, weight_format=name, weight_bits=weight_bits, weight_bits_per_element=float(weight_bits),
                   act_bits=act_bits, group_size=None)


def cycles(target: Accelerator, problem: GemmProblem) -> tuple[int, int]:
    """Cycles of `problem` on `target`, and of them the array's DRAM stall."""
    result = simulate_layer(problem, target, phase="prefill")
    return result.cycles, result.stall_cycles["dram"]


def _speedups(target: Accelerator, cases: Sequence[tuple[GemmProblem, tuple[int, int], float]],
              full: tuple[int, int]) -> list[Row]:
    """Per case (layer, its (p_a, p_w), the law's speedup): cycles at `full` bits over
    cycles at its own, then the total over the CNN layers, whose ideal is the
    MAC-weighted one (each layer's ideal time at the full-width time's share)."""
    rows, base_total, own_total, stall_total, macs_full, macs_ideal = [], 0, 0, 0, 0, 0.0
    for problem, (p_a, p_w), ideal in cases:
        base, _ = cycles(target, at_bits(problem, *full))
        own, stall = cycles(target, at_bits(problem, p_a, p_w))
        rows.append(Row(problem.name, f"a{p_a} w{p_w}", ideal, base / own, stall / own))
        if problem is not COMPUTE_BOUND:
            base_total, own_total, stall_total = base_total + base, own_total + own, stall_total + stall
            macs_full, macs_ideal = macs_full + problem.macs, macs_ideal + problem.macs / ideal
    rows.insert(-1, Row(f"{CNN} total", "per layer", macs_full / macs_ideal, base_total / own_total,
                        stall_total / own_total))
    return rows


def stripes_rows() -> list[Row]:
    """Stripes: activations bit-serial, weights 16 bits (FACTS §4)."""
    cases = [(p, (PRECISIONS[p.name][0], FULL), FULL / PRECISIONS[p.name][0]) for p in cnn_layers()]
    cases.append((COMPUTE_BOUND, (6, FULL), FULL / 6))
    return _speedups(load_target("stripes"), cases, (FULL, FULL))


def loom_rows() -> list[Row]:
    """Loom: both operands bit-serial; an FC layer (no weight reuse) only in p_w (FACTS §4)."""
    def ideal(problem: GemmProblem, p_a: int, p_w: int) -> float:
        return FULL / p_w if not problem.weight_reuse else FULL * FULL / (p_a * p_w)

    cases = [(p, PRECISIONS[p.name], ideal(p, *PRECISIONS[p.name])) for p in cnn_layers()]
    cases.append((COMPUTE_BOUND, (6, 6), ideal(COMPUTE_BOUND, 6, 6)))
    return _speedups(load_target("loom"), cases, (FULL, FULL))


def bitfusion_rows() -> list[Row]:
    """Bit Fusion at 4 and 2 bits over 8 bits: the CNN (every layer at that width)
    and the compute-bound GEMM; ideal = fused products per cycle (FACTS §4)."""
    target = load_target("bitfusion")
    fusion = target.pe_array.fusion
    assert fusion is not None  # bitfusion.yaml declares its fusion unit
    rows = []
    for bits in (8, 4, 2):
        ideal = fusion.products_per_cycle(bits, bits) / fusion.products_per_cycle(FUSED, FUSED)
        for problems in (cnn_layers(), (COMPUTE_BOUND,)):
            base = sum(cycles(target, at_bits(p, FUSED, FUSED))[0] for p in problems)
            own, stall = map(sum, zip(*(cycles(target, at_bits(p, bits, bits)) for p in problems), strict=True))
            label = f"{CNN} total" if len(problems) > 1 else COMPUTE_BOUND.name
            rows.append(Row(label, f"a{bits} w{bits}", ideal, base / own, stall / own))
    return rows


def lut_rows() -> list[Row]:
    """LUT Tensor Core: simulated MACs per cycle and cycles per tile at W = 2, 3, 4
    weight bits with FP16 activations, against 512/W and W (FACTS §3.2)."""
    target = load_target("lut_tensor_core")
    rows = []
    for bits in (2, 3, 4):
        problem = replace(LUT_GEMM, weight_format=f"int{bits}", weight_bits=bits, weight_bits_per_element=float(bits))
        total, stall = cycles(target, problem)
        rows.append(Row(f"{problem.name} MACs/cycle", f"W{bits}", LUT_TILE_MACS / bits, problem.macs / total,
                        stall / total))
        rows.append(Row(f"{problem.name} cycles/tile", f"W{bits}", bits, total * LUT_TILE_MACS / problem.macs,
                        stall / total))
    return rows


STUDIES = {"stripes": stripes_rows, "loom": loom_rows, "bitfusion": bitfusion_rows, "lut-tc": lut_rows}


def print_rows(paper: str, rows: Sequence[Row], console: Console) -> None:
    """The table of `paper` (ideal beside simulated, gaps over 10 % marked) and its published context."""
    table = Table(title=TITLES[paper], title_justify="left")
    for column in ("", "bits", "ideal", "simulated", "gap", "DRAM-stalled"):
        table.add_column(column, justify="left" if column in ("", "bits") else "right")
    for row in rows:
        gap = f"{row.gap:+.1%}"
        table.add_row(row.row, row.bits, f"{row.ideal:.3g}", f"{row.simulated:.3g}",
                      gap if abs(row.gap) <= TOLERANCE else f"[bold red]{gap}[/]", f"{row.dram_stalled:.0%}")
    console.print(table)
    console.print(f"published, end to end on other baselines (context, not compared): {PUBLISHED[paper]}",
                  highlight=False)


def plot_rows(paper: str, rows: Sequence[Row], directory: Path) -> Path:
    """Grouped bars, ideal beside simulated, per row of `paper`'s table."""
    return grouped_bars(TITLES[paper], [f"{row.row}\n{row.bits}" for row in rows],
                        {"ideal": [row.ideal for row in rows], "simulated": [row.simulated for row in rows]},
                        directory / f"fidelity_{paper.replace('-', '_')}.png")
