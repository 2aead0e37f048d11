"""The report's comparison section: what the simulator predicts for each GEMM
layer beside what TVM measured on a CPU or GPU (`bitsmith compare --json`).

The bar chart puts both times per layer on one log axis, since an accelerator's
microseconds and a CPU's milliseconds differ by orders of magnitude; the table
gives the exact figures and the speed-up (measured / simulated), with the same
totals as the terminal table of `bitsmith compare`.
"""

from __future__ import annotations

import html

import numpy as np

from bitsmith.comparison import ComparisonReport
from bitsmith.report_html.sections import svg_figure


def comparison_section(report: ComparisonReport) -> str:
    """HTML: the outputs check, a bar chart of simulated and measured time per
    GEMM layer, and the per-layer table with its totals."""
    import matplotlib.pyplot as plt

    figure = ""
    if report.layers:
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(report.layers) + 1.5))
        y = np.arange(len(report.layers))
        ax.barh(y - 0.2, [r.sim_s * 1e6 for r in report.layers], 0.4, color="tab:blue",
                label=f"{report.accelerator} (simulated)")
        ax.barh(y + 0.2, [r.measured_s * 1e6 for r in report.layers], 0.4, color="tab:orange",
                label=f"{report.backend} (TVM, measured)")
        ax.set_yticks(y, [r.name for r in report.layers], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("µs per layer")
        ax.legend(fontsize=8)
        fig.tight_layout()
        figure = svg_figure(fig)
    head = ("layer", "op", "format", "sim cycles", "sim µs", f"{report.backend} µs", "speed-up")
    rows = [(r.name, r.op, r.format, f"{r.sim_cycles:,}", f"{r.sim_s * 1e6:,.2f}", f"{r.measured_s * 1e6:,.2f}",
             f"{r.speedup:,.3g}x") for r in report.layers]
    sim, measured = report.sim_gemm_s, report.measured_gemm_s
    rows.append(("GEMM layers", "", "", f"{sum(r.sim_cycles for r in report.layers):,}", f"{sim * 1e6:,.2f}",
                 f"{measured * 1e6:,.2f}", f"{measured / sim:,.3g}x" if sim else "-"))
    rows.append(("whole model", "", "", "", f"{report.sim_total_s * 1e6:,.2f}",
                 f"{report.measured_total_s * 1e6:,.2f}",
                 f"{report.measured_total_s / report.sim_total_s:,.3g}x" if report.sim_total_s else "-"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    verdict = "ok" if report.check.ok else "differ"
    return (f"<p>{html.escape(report.graph)}: {html.escape(report.accelerator)} simulated at "
            f"{report.clock_hz / 1e9:g} GHz against {html.escape(report.backend)} measured with TVM; "
            f"speed-up = measured / simulated. Vector ops run inside the whole-model figures only.</p>"
            f"<p class='check {verdict}'>{html.escape(report.check.describe())}</p>{figure}"
            f"<table class='num'><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")
