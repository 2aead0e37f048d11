"""`bitsmith report`: the page's sections, that it fetches nothing, and that its
timeline data says, cycle by cycle, what the trace engine's own events say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from trace_events import busy_at, trace_busy

from bitsmith.report_html import timeline as timeline_module
from bitsmith.report_html.timeline import record_timeline
from bitsmith.simulator.simulate import accelerator
from bitsmith.trace_cli import gemm_problem


def timeline_data(page: str) -> dict:
    match = re.search(r"<script type='application/json' id='tl-data'>(.*?)</script>", page, re.S)
    assert match, "no timeline data in the page"
    return json.loads(match.group(1).replace("<\\/", "</"))


def page_busy(data: dict, cycle: int) -> set[tuple[str, int]]:
    """What the page's data says is busy in `cycle`, read from its page as viewer.js does."""
    text = data["pages"][cycle // data["page"]]
    runs = [int(v) for v in text.split(",")] if text else []
    return {(data["lanes"][runs[i]]["key"], runs[i + 3]) for i in range(0, len(runs), 4)
            if runs[i + 1] <= cycle < runs[i + 2]}


def test_report_of_a_compiled_model(cli, compiled_mlp: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, stdout, err = cli("report", compiled_mlp, "-o", str(out), "--accuracy", "cosine=0.98")
    assert code == 0, err
    page = out.read_text()
    for section in ("summary", "layers", "energy", "area", "roofline", "timeline"):
        assert f"<section id='{section}'>" in page
    # mlp's three linear layers, int6 with a 16-bit scale per 32 weights: 6 + 16/32 = 6.5 bits each
    assert page.count("<td>int6</td><td>6.5</td>") == 3
    assert "<th>cosine</th><td>0.98</td>" in page
    # the default timeline is the smallest GEMM: layer 4, 1 x 10 x 128 (mlp: 128 -> 10 outputs)
    assert timeline_data(page)["title"].startswith("4: GEMM M1 N10 K128")
    assert "timeline: 4: GEMM" in stdout


def test_page_fetches_nothing(cli, compiled_mlp: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert cli("report", compiled_mlp, "-o", str(out))[0] == 0
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "<link rel='stylesheet'" not in page
    assert not re.search(r"\bfetch\(|XMLHttpRequest", page)


def test_timeline_data_matches_the_trace_every_cycle(cli, compiled_mlp: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert cli("report", compiled_mlp, "-o", str(out), "--gemm", "4x16x64")[0] == 0
    data = timeline_data(out.read_text())
    cycles, events = trace_busy("bitmod", (4, 16, 64))
    assert data["cycles"] == cycles
    for cycle in range(cycles):
        assert page_busy(data, cycle) == busy_at(events, cycle), cycle


def test_overview_counts_add_up_to_the_busy_cycles() -> None:
    # The overview's buckets per lane sum to the cycles the engine counted for that unit.
    accel = accelerator("lut_tensor_core")
    timeline = record_timeline(gemm_problem(accel, 2, 64, 64, "int2", None), accel)
    busy = dict(zip(timeline.lanes, (sum(row) for row in timeline.overview), strict=True))
    assert busy["array"] == timeline.result.busy_cycles["array"]
    assert busy["dram_load"] + busy["dram_store"] == timeline.result.busy_cycles["dram"]


def test_long_trace_is_paged_not_dumped(monkeypatch: pytest.MonkeyPatch) -> None:
    accel = accelerator("lut_tensor_core")
    problem = gemm_problem(accel, 16, 256, 256, None, None)
    full = record_timeline(problem, accel)
    assert len(full.pages()) == -(-full.cycles // timeline_module.PAGE_CYCLES)
    assert len(full.overview[0]) <= timeline_module.OVERVIEW_COLUMNS
    monkeypatch.setattr(timeline_module, "MAX_RUNS", 100)
    capped = record_timeline(problem, accel)
    assert len(capped.runs) == 100 and capped.complete_until < capped.cycles
    for cycle in range(0, capped.complete_until, 7):  # what is kept is whole up to complete_until
        assert capped.busy_at(cycle) == full.busy_at(cycle)


def test_report_of_a_saved_simulation_needs_a_gemm_for_a_timeline(cli, compiled_mlp: str, tmp_path: Path) -> None:
    saved = tmp_path / "sim.json"
    assert cli("simulate", compiled_mlp, "--json", str(saved))[0] == 0
    out = tmp_path / "report.html"
    assert cli("report", str(saved), "-o", str(out))[0] == 0
    assert "<section id='timeline'>" not in out.read_text()
    assert "Formats and bits come with a compiled model" in out.read_text()
    assert cli("report", str(saved), "-o", str(out), "--gemm", "4x16x64")[0] == 0
    assert timeline_data(out.read_text())["cycles"] == trace_busy("bitmod", (4, 16, 64))[0]


def test_design_points_give_their_pareto_front(cli, tmp_path: Path) -> None:
    points = tmp_path / "dse.csv"
    # by hand: b (1, 3) and c (2, 2) and d (3, 1) trade off; a (2, 3) is beaten by b and c; e ties nothing
    points.write_text("name,cycles,energy_pj\na,2,3\nb,1,3\nc,2,2\nd,3,1\ne,3,3\n")
    out = tmp_path / "dse.html"
    code, _, err = cli("report", str(points), "-o", str(out), "--objective", "cycles:min", "--objective",
                       "energy_pj:min")
    assert code == 0, err
    page = out.read_text()
    assert "3 of 5 design points are Pareto-optimal" in page
    front = re.findall(r"<tr><td>(\w)</td>", page.split("<section id='pareto'>")[1])
    assert front == ["b", "c", "d"]


@pytest.mark.parametrize(("args", "message"), [
    (("nowhere.json",), "nowhere.json: no such file"),
    (("{points}",), "design points need --objective"),
    (("{points}", "--objective", "area:min"), "no column area"),
    (("{points}", "--objective", "cycles:fastest"), "sense must be 'min' or 'max'"),
])
def test_bad_input_is_one_line(cli, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    points = tmp_path / "dse.csv"
    points.write_text("cycles,energy_pj\n1,2\n")
    code, _, err = cli("report", *(a.format(points=points) for a in args), "-o", str(tmp_path / "r.html"))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and message in lines[0], err


def test_bad_accuracy_is_a_usage_error(cli, compiled_mlp: str, tmp_path: Path) -> None:
    assert cli("report", compiled_mlp, "-o", str(tmp_path / "r.html"), "--accuracy", "cosine")[0] == 2
