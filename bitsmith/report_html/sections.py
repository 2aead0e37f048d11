"""The report's sections as HTML fragments, each from a `SimReport` and what is
known beside it (the layer problems of a compiled model, accuracy figures).

Everything is inline: plots are matplotlib SVG with text kept as text, so the
page needs no network and stays searchable; breakdowns are tables with CSS bars,
which show an unknown component as unknown instead of drawing it as zero.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bitsmith.simulator.breakdown import Breakdown  # noqa: E402
from bitsmith.simulator.plots import figure_bytes, render  # noqa: E402
from bitsmith.simulator.problem import GemmProblem, LayerProblem  # noqa: E402
from bitsmith.simulator.report import SimReport  # noqa: E402


def svg_figure(fig: plt.Figure) -> str:
    """`fig` as an inline <svg> element."""
    return _inline(figure_bytes(fig, "svg"))


def _inline(svg: bytes) -> str:
    """An SVG file as an element of the page: the XML prologue and doctype dropped."""
    text = svg.decode()
    return f"<div class='figure'>{text[text.index('<svg'):]}</div>"


def summary_section(report: SimReport, accuracy: Mapping[str, float] | None) -> str:
    """Totals, with accuracy figures (when known) beside the cost they were bought at."""
    energy = report.energy
    cost = [("cycles", f"{report.cycles:,}"), ("latency", f"{report.latency_s * 1e3:,.4g} ms at "
                                                          f"{report.clock_hz / 1e9:g} GHz"),
            ("MACs", f"{report.macs:,}"), ("GEMM utilisation", f"{report.utilisation:.3f}"),
            ("DRAM traffic", f"{report.dram_bytes / 2**20:,.3f} MiB"), ("energy", energy.describe("µJ", 1e-6)),
            ("area", report.area.breakdown.describe("mm²"))]
    rows = "".join(f"<tr><th>{name}</th><td>{html.escape(value)}</td></tr>" for name, value in cost)
    if accuracy:
        rows += "".join(f"<tr class='accuracy'><th>{html.escape(name)}</th><td>{value:.6g}</td></tr>"
                        for name, value in accuracy.items())
    else:
        rows += "<tr class='accuracy'><th>accuracy</th><td>not measured for this report</td></tr>"
    return f"<table class='summary'><tbody>{rows}</tbody></table>"


def layer_section(report: SimReport, problems: Mapping[str, LayerProblem] | None) -> str:
    """One row per layer: format and bits (known for a compiled model), tile,
    cycles, share of the time, utilisation, energy and DRAM traffic."""
    total = max(report.cycles, 1)
    head = ("layer", "op", "format", "bits/w", "tile", "cycles", "% time", "util", "energy nJ", "DRAM KiB")
    rows = []
    for layer in report.layers:
        r = layer.result
        problem = (problems or {}).get(r.name)
        gemm = problem if isinstance(problem, GemmProblem) else None
        energy = f"{layer.energy.total / 1e3:,.3f}" + ("" if layer.energy.complete else "+?")
        cells = (r.name, r.op, gemm.weight_format if gemm else "", f"{gemm.weight_bits_per_element:.4g}" if gemm else "",
                 r.mapping, f"{r.cycles:,}", f"{100 * r.cycles / total:.1f}",
                 f"{r.utilisation:.3f}" if layer.is_gemm else "", energy, f"{r.dram_bytes / 1024:,.1f}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    note = "" if problems else "<p class='note'>Formats and bits come with a compiled model; this report has none.</p>"
    return (f"{note}<table class='num layers'><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def breakdown_section(breakdown: Breakdown, unit: str, scale: float) -> str:
    """A breakdown as rows with a bar each; unknown components say so."""
    total = breakdown.total or 1.0
    rows = []
    for name, value in breakdown.components.items():
        if value is None:
            bar, shown = "<span class='unknown'>unknown (not stated by the target)</span>", "?"
        else:
            bar, shown = f"<span class='bar' style='width:{100 * value / total:.2f}%'></span>", f"{value * scale:,.4g}"
        rows.append(f"<tr><th>{html.escape(name)}</th><td>{shown}</td><td class='barcell'>{bar}</td></tr>")
    return (f"<p>total: {html.escape(breakdown.describe(unit, scale))}</p>"
            f"<table class='breakdown'><thead><tr><th>component</th><th>{unit}</th><th></th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def plot_section(report: SimReport, name: str) -> str:
    """One of the simulator's plots (simulator/plots.py) as inline SVG."""
    return _inline(render(report, name, "svg"))
