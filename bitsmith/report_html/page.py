"""The report page: one HTML file holding every section, its style sheet, the
timeline viewer's script and data, and nothing fetched at view time.

The timeline data sits in a `<script type="application/json">` element (so the
browser does not run it and `</` is the only sequence to escape); viewer.js and
style.css ship beside this module and are pasted in whole.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from importlib import resources

from typing import TYPE_CHECKING

from bitsmith.report_html.pareto import Row, pareto_section
from bitsmith.report_html.sections import breakdown_section, layer_section, plot_section, summary_section
from bitsmith.report_html.timeline import Timeline
from bitsmith.simulator.problem import LayerProblem
from bitsmith.simulator.report import SimReport

if TYPE_CHECKING:
    from bitsmith.comparison import ComparisonReport

TIMELINE_CONTROLS = """
<p id="tl-title"></p>
<div class="tl-controls">
 <button id="tl-prev" title="previous cycle (←)">◀ step</button>
 <button id="tl-play" title="play / pause (space)">▶ play</button>
 <button id="tl-next" title="next cycle (→)">step ▶</button>
 <label>cycle <input id="tl-jump" type="number" min="0" value="0"></label><button id="tl-go">go</button>
 <button id="tl-zoom-in" title="zoom in (+, mouse wheel)">zoom in</button>
 <button id="tl-zoom-out" title="zoom out (−, mouse wheel)">zoom out</button>
 <button id="tl-fit">whole run</button><span id="tl-window"></span>
</div>
<canvas id="tl-canvas"></canvas>
<div id="tl-readout">cycle <b id="tl-cycle">0</b>: busy units <ul id="tl-busy"></ul></div>
"""


def _asset(name: str) -> str:
    return resources.files("bitsmith.report_html").joinpath(name).read_text()


def timeline_section(timeline: Timeline) -> str:
    """The viewer's controls and canvas, its data and its script."""
    note = ""
    if timeline.complete_until < timeline.cycles:
        note = (f"<p class='note'>Cycle-level detail is kept for cycles 0–{timeline.complete_until}; past that "
                f"the view shows per-bucket busy fractions only. `bitsmith trace --cycles A:B` lists any "
                f"window.</p>")
    data = timeline.to_json().replace("</", "<\\/")
    return (f"<p>Which unit is busy with which step, cycle by cycle (a bar's sN: the tile step it works on; "
            f"red: waiting). Click a cycle, step with ← →, play with space, zoom with + − or the mouse wheel."
            f"</p>{note}{TIMELINE_CONTROLS}"
            f"<script type='application/json' id='tl-data'>{data}</script><script>{_asset('viewer.js')}</script>")


def build_report(report: SimReport | None, *, problems: Mapping[str, LayerProblem] | None = None,
                 timeline: Timeline | None = None, accuracy: Mapping[str, float] | None = None,
                 design_points: Sequence[Row] | None = None, objectives: Mapping[str, str] | None = None,
                 design_note: str | None = None, comparison: ComparisonReport | None = None,
                 title: str | None = None) -> str:
    """The whole page. `report`: a simulated model (None for a design-space or
    comparison report alone); `problems`: its layer problems by name, for formats
    and bits; `timeline`: one GEMM's cycles; `accuracy`: figures shown beside the
    cost; `design_points` with `objectives`: design points and the sense of each
    objective, for the Pareto front (`design_note`: a line above it, e.g. what a
    sweep left out); `comparison`: simulated against measured, per layer."""
    sections: list[tuple[str, str, str]] = []
    if report is not None:
        title = title or f"{report.graph} on {report.target}"
        sections += [
            ("summary", "Summary: cost and accuracy", summary_section(report, accuracy)),
            ("layers", "Per-layer table", layer_section(report, problems)),
            ("energy", "Energy breakdown", breakdown_section(report.energy, "µJ", 1e-6)),
            ("area", "Area breakdown", breakdown_section(report.area.breakdown, "mm²", 1.0)),
            ("roofline", "Roofline", "<p>Each GEMM layer's attained MACs per cycle against its MACs per DRAM "
                                     "byte, under the DRAM and compute roofs.</p>" + plot_section(report, "roofline")),
            ("cycles", "Cycles per layer", plot_section(report, "cycles")),
        ]
    if timeline is not None:
        sections.append(("timeline", "Per-cycle timeline", timeline_section(timeline)))
    if comparison is not None:
        from bitsmith.report_html.comparison import comparison_section

        sections.append(("comparison", "Simulated against measured", comparison_section(comparison)))
    if design_points is not None:
        note = f"<p>{html.escape(design_note)}</p>" if design_note else ""
        sections.append(("pareto", "Design space: Pareto front", note + pareto_section(design_points,
                                                                                       objectives or {})))
    title = title or "bitsmith report"
    subtitle = (f"{report.phase} phase, {report.engine} engine, clock {report.clock_hz / 1e9:g} GHz"
                if report is not None else "")
    nav = "".join(f"<a href='#{key}'>{html.escape(heading)}</a>" for key, heading, _ in sections)
    body = "".join(f"<section id='{key}'><h2>{html.escape(heading)}</h2>{content}</section>"
                   for key, heading, content in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' href='data:,'><style>{_asset('style.css')}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p><nav>{nav}</nav>{body}</body></html>")
