"""`bitsmith demo`: the lowered IR agrees with torch, and MiniLM compiled for bitmod
is simulated and judged, the budgeted variant within its budget."""

from __future__ import annotations

import io

from rich.console import Console

from bitsmith.demo import BUDGET_BITS, run_demo


def test_demo_checks_the_ir_then_compiles_simulates_and_judges_minilm() -> None:
    out = io.StringIO()
    result = run_demo(Console(file=out, width=160))
    assert min(result.cosines) > 0.99999 and result.max_abs_diff < 1e-5
    default, budgeted = result.compiled
    assert default.formats == "36×int6" and default.bits_per_weight == 6.125
    assert budgeted.bits_per_weight <= BUDGET_BITS
    for run in result.compiled:
        assert 0.9 < run.cosine_worst <= run.cosine_mean < 1.0  # quantised, not broken
        assert run.cycles > 0 and run.energy_uj > 0
    assert budgeted.cycles < default.cycles  # fewer weight bits, fewer bit-serial cycles
    printed = out.getvalue()
    assert "MiniLM compiled for bitmod" in printed and f"{default.cycles:,}" in printed
    comparison = result.comparison  # the default compile, measured on this CPU through TVM
    assert comparison.check.ok and comparison.accelerator == "bitmod"
    assert sum(row.op == "linear" for row in comparison.layers) == 36  # and the six attention nodes
    assert all(row.measured_s > 0 and row.sim_cycles > 0 for row in comparison.layers)
    assert "vs cpu (TVM, measured)" in printed
