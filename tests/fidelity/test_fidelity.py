"""The fidelity benchmark, reduced to Llama-2-7B (both workloads): BitMoD's own
accounting, fed bitsmith's layer shapes and the shipped targets, reproduces the
published figures within 10 %; the cycle model's figures and the causes of its
gaps are printed beside them.

Published numbers and their sources (the repositories and commits are in FACTS'
source table):
- speedups over FP16: FACTS §1.5, HPCA `bitmod_sim/plot/speedup_plot.ipynb`;
- Llama-2-7B decode cycles per token (FP16, BitMoD-LY, ANT): FACTS §1.4-1.5, the
  same notebook (`cycle_*_g`);
- BitMoD decode cycles at 3/4/5/6/8 bits: FACTS §1.5, DEV
  `figures/ppl_pareto/ppl_pareto.xlsx`;
- the re-implementation check of BitMoD's formulas (417.3 M, 81.3 M, 133.4 M,
  107.6 M per decode token; ANT prefill 1.687 G): FACTS §1.4.
Left out of the within-10 % asserts, with the reason FACTS gives: the
discriminative BitMoD-LY speedup and every prefill cycle count (the notebook's
prefill numbers come from an earlier simulator revision, FACTS §1.4-1.5), and
OliVe's decode cycles (97.2 M published, 107.6 M from the released code: FACTS
§1.4 finds the same 11 %).
"""

from __future__ import annotations

import pytest
from rich.console import Console

from bitsmith.fidelity.accounting import CYCLE, PAPER, phase_totals
from bitsmith.fidelity.bitmod_study import Figure, cycle_figures, speedup_figures
from bitsmith.fidelity.designs import ANT, BITMOD_LY, FP16, OLIVE
from bitsmith.fidelity.tables import print_figures

MODEL = "llama2-7b"
EARLIER_REVISION = {("disc. BitMoD-LY", "Llama-2-7B")}


@pytest.fixture(scope="module")
def figures() -> dict[str, list[Figure]]:
    """Llama-2-7B lowered once (prefill and decode), every figure computed once."""
    return {"speedup": speedup_figures([MODEL]), "cycles": cycle_figures()}


@pytest.mark.parametrize(("design", "phase", "published"), [
    (FP16, "decode", 417.3e6), (BITMOD_LY, "decode", 81.3e6), (ANT, "decode", 133.4e6), (OLIVE, "decode", 107.6e6),
    (ANT, "prefill", 1.687e9),
])
def test_paper_mode_is_bitmods_released_code(figures, design, phase, published):
    # FACTS §1.4: a re-implementation of the released formulas with Llama-2-7B shapes.
    cycles = phase_totals(design, MODEL, "generative", phase, PAPER).cycles
    assert cycles == pytest.approx(published, rel=0.001)


def test_speedups_within_ten_percent_in_paper_mode(figures):
    per_model = [f for f in figures["speedup"] if f.column == "Llama-2-7B"]
    assert len(per_model) == 8
    for figure in per_model:
        if (figure.row, figure.column) in EARLIER_REVISION:
            assert not figure.within(PAPER) and "earlier revision" in figure.note
        else:
            assert figure.within(PAPER), (figure.row, figure.measured[PAPER], figure.published)


def test_decode_cycles_within_ten_percent_in_paper_mode(figures):
    decode = [f for f in figures["cycles"] if f.row.startswith("decode") and "OliVe" not in f.row]
    assert len(decode) == 3 + 5   # FP16, BitMoD-LY, ANT, and the 3/4/5/6/8-bit sweep
    for figure in decode:
        assert figure.within(PAPER), (figure.row, figure.measured[PAPER], figure.published)
    sweep = [f.measured[PAPER] for f in decode if "BitMoD w" in f.row]
    steps = [b - a for a, b in zip(sweep, sweep[1:-1])]   # 3->4->5->6 bits: linear in bits (FACTS §1.5)
    assert max(steps) == pytest.approx(min(steps), rel=0.02)


def test_cycle_model_figures_and_causes_are_printed(figures):
    console = Console(record=True, width=250)
    print_figures(figures, console)
    text = console.export_text()
    assert CYCLE in text and "-buffers" in text
    assert "Differences over 10% and their measured causes" in text
    gaps = [f for table in figures.values() for f in table if f.published is not None and not f.within(CYCLE)]
    for figure in gaps:
        assert f"{figure.row} / {figure.column}: cycle" in text
