"""BitMoD's evaluation re-run: every published figure beside what each mode measures,
and, for each gap over 10 %, where it comes from.

A `Figure` is one published number (or one measured-only number, `published`
None) with its value under every mode of accounting.py. The gap of the cycle
model to the paper's own accounting is split along the ablation ladder: the part
each removal accounts for is the change in the figure when it is removed, so the
parts add up to the whole gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean

from bitsmith.fidelity import published as pub
from bitsmith.fidelity.accounting import CYCLE, LADDER, MODES, PAPER, REVISION, phase_totals, workload_totals
from bitsmith.fidelity.designs import ANT, BITMOD_LY, COMPARED, DESIGNS, FP16, MODEL_LABELS, MODELS, OLIVE, WORKLOADS, \
    bitmod_at

TOLERANCE = 0.10
# What each step between adjacent modes (cycle model -> ... -> paper) stands for.
STEP_CAUSES = {
    "-vector": "vector-unit ops (norms, softmax, RoPE, residual adds, data movement) the paper leaves out",
    "-dequant": "BitMoD's bit-serial group dequantisation (8 cycles per group of 128) the paper leaves out",
    "-ports": "SRAM port stalls where a fold streams an operand faster than the phase's port width delivers it "
              "(the paper has no port limit in its cycles)",
    "-buffers": "weight refetches per input block: bitsmith double-buffers and shares the input SRAM with outputs, "
                "so a block is a quarter of the 512 KiB the paper's refetch rule assumes",
    PAPER: "array fold skew and drain and the step-by-step DRAM/compute pipeline, where the paper takes "
           "max(compute, DRAM) per layer",
}
LLAMA = "llama2-7b"


@dataclass(frozen=True)
class Figure:
    """One compared number: table, row and column it sits in, the published value
    (None where only a measurement exists) and its value under each mode."""

    table: str
    row: str
    column: str
    published: float | None
    measured: dict[str, float]
    source: str = ""
    note: str = ""

    def gap(self, mode: str) -> float | None:
        """measured / published - 1 under `mode` (None without a published value)."""
        return None if self.published is None else self.measured[mode] / self.published - 1

    def within(self, mode: str, tolerance: float = TOLERANCE) -> bool:
        gap = self.gap(mode)
        return gap is None or abs(gap) <= tolerance


def _ratio(design, model: str, workload: str, mode: str, metric: str) -> float:
    base, ours = workload_totals(FP16, model, workload, mode), workload_totals(design, model, workload, mode)
    return getattr(base, metric) / getattr(ours, metric)


def _all_modes(value) -> dict[str, float]:
    return {mode: value(mode) for mode in MODES}


def _note(design, model: str, workload: str) -> str:
    """What FACTS (or a measurement) says about a paper-mode gap on this figure."""
    if design is ANT and model == "llama2-13b" and workload == "generative":
        return pub.ANT_13B
    return pub.EARLIER_REVISION


def speedup_figures(models: Sequence[str]) -> list[Figure]:
    """Speedup over FP16 per design, model and mean, both workloads."""
    return _ratio_figures("speedup", "cycles", models)


def energy_figures(models: Sequence[str]) -> list[Figure]:
    """Energy efficiency over FP16 (PE + DRAM) per model and mean; only the mean is
    published."""
    return _ratio_figures("energy", "energy_pj", models)


def _ratio_figures(table: str, metric: str, models: Sequence[str]) -> list[Figure]:
    """FP16's `metric` over each design's, per model and the mean over `models`,
    beside the published figures of `table` ("speedup" or "energy")."""
    per_model_published = pub.SPEEDUP if table == "speedup" else None
    means = pub.SPEEDUP_MEAN if table == "speedup" else pub.ENERGY_MEAN
    source = pub.SPEEDUP_SOURCE if table == "speedup" else pub.ENERGY_SOURCE
    figures = []
    for workload in WORKLOADS:
        for design in COMPARED:
            row = f"{workload[:4]}. {design.name}"
            per_model = []
            for model in models:
                values = _all_modes(lambda mode: _ratio(design, model, workload, mode, metric))
                per_model.append(values)
                if per_model_published is None:
                    figures.append(Figure(table, row, MODEL_LABELS[model], None, values))
                else:
                    published = per_model_published[workload][design.name][MODELS.index(model)]
                    figures.append(Figure(table, row, MODEL_LABELS[model], published, values, source,
                                          _note(design, model, workload)))
            figures.append(Figure(table, row, "mean", means[workload][design.name],
                                  {m: mean(v[m] for v in per_model) for m in MODES}, source, pub.EARLIER_REVISION))
    return figures


def dram_share_figures(models: Sequence[str]) -> list[Figure]:
    """DRAM energy / (PE + DRAM energy) per design and workload, lowest and highest
    over the models. Measured only: the published "62-91 % of total energy" counts
    SRAM energy too, which BitMoD never published (FACTS §1.5)."""
    figures = []
    for workload in WORKLOADS:
        for design in DESIGNS:
            shares = {m: [workload_totals(design, model, workload, m).dram_share for model in models] for m in MODES}
            row = f"{workload[:4]}. {design.name}"
            figures.append(Figure("dram share", row, "lowest", None, {m: min(v) for m, v in shares.items()}))
            figures.append(Figure("dram share", row, "highest", None, {m: max(v) for m, v in shares.items()}))
    return figures


def cycle_figures() -> list[Figure]:
    """Llama-2-7B cycles: one decode token and the prefill per design (notebook),
    and BitMoD's decode token at 3/4/5/6/8 bits (xlsx)."""
    figures = []
    for design in (FP16, BITMOD_LY, ANT, OLIVE):
        for phase, table in (("decode", pub.DECODE_CYCLES_LLAMA2_7B), ("prefill", pub.PREFILL_CYCLES_LLAMA2_7B)):
            values = _all_modes(lambda mode: phase_totals(design, LLAMA, "generative", phase, mode).cycles)
            note = pub.EARLIER_REVISION if phase == "prefill" else pub.OLIVE_DECODE if design is OLIVE else ""
            figures.append(Figure("cycles", f"{phase}: {design.name}", "Llama-2-7B", table[design.name], values,
                                  pub.SPEEDUP_SOURCE, note))
    for bits, cycles in pub.BITMOD_DECODE_SWEEP.items():
        design = bitmod_at(bits)
        values = _all_modes(lambda mode: phase_totals(design, LLAMA, "generative", "decode", mode).cycles)
        figures.append(Figure("cycles", f"decode: {design.name}", "Llama-2-7B", cycles, values, pub.SWEEP_SOURCE))
    return figures


def headline_figures(speedups: Sequence[Figure]) -> list[Figure]:
    """BitMoD-LY over ANT and over OliVe: the ratio of mean speedups, averaged over
    the two workloads (how the abstract's 1.69x and 1.48x follow from FACTS §1.5)."""
    means = {(f.row, f.column): f.measured for f in speedups if f.column == "mean"}
    figures = []
    for rival, value in pub.HEADLINE.items():
        ratio = {m: mean(means[(f"{w[:4]}. {BITMOD_LY.name}", "mean")][m] / means[(f"{w[:4]}. {rival}", "mean")][m]
                         for w in WORKLOADS) for m in MODES}
        figures.append(Figure("headline", f"BitMoD-LY vs {rival}", "mean of disc./gen.", value, ratio,
                              pub.ABSTRACT_SOURCE, pub.EARLIER_REVISION))
    return figures


def explain(figure: Figure) -> str:
    """Why `figure`'s cycle-model value misses the published one: the part of the
    gap each ladder step accounts for, the largest named, then paper vs published."""
    chain = (CYCLE, *LADDER, PAPER)
    parts = {step: figure.measured[before] - figure.measured[step] for before, step in zip(chain, chain[1:])}
    cause = max(parts, key=lambda step: abs(parts[step]))
    split = ", ".join(f"{step.lstrip('-')} {value:+.3g}" for step, value in parts.items())
    text = (f"{figure.row} / {figure.column}: cycle {figure.measured[CYCLE]:.3g} vs published {figure.published:.3g} "
            f"({figure.gap(CYCLE):+.0%}); cycle minus paper by cause: {split}; largest: {STEP_CAUSES[cause]}")
    if not figure.within(PAPER):
        text += (f"; paper mode itself {figure.gap(PAPER):+.0%}: {figure.note} "
                 f"(paper@48975fc: {figure.gap(REVISION):+.0%})")
    return text


def all_figures(models: Sequence[str]) -> dict[str, list[Figure]]:
    """Every BitMoD table, keyed by table name, over `models`."""
    speedups = speedup_figures(models)
    return {"speedup": speedups, "energy": energy_figures(models), "dram share": dram_share_figures(models),
            "cycles": cycle_figures(), "headline": headline_figures(speedups)}


__all__ = ["Figure", "TOLERANCE", "all_figures", "explain"]
