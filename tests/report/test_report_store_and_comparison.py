"""`bitsmith report` of a DSE results store (its sweep's Pareto front) and of a
comparison saved by `bitsmith compare --json` (simulated against measured)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bitsmith.backends.tvm.graph_runtime import Check
from bitsmith.comparison import ComparisonReport, LayerComparison
from bitsmith.ir.errors import BitsmithError

# 3 x 2 arrays x 2 format sets = 12 points on the zoo's mlp; the area bound leaves
# out the 32 x 16 arrays (1.58 mm² at 1507.7 µm² x 1.5 per PE).
SWEEP = """\
name: report_sweep
base: bitmod
hardware:
  pe_array.rows: [8, 16, 32]
  pe_array.cols: [8, 16]
quantisation:
  formats: [[int8], [int4]]
  group_size: [32]
workloads:
  - {model: mlp}
objectives: [latency, energy]
constraints:
  area: {max: 1.0}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sweep run into a store, on threads (no worker processes to start)."""
    from bitsmith.dse import ResultStore, Space, load_sweep, run_sweep

    folder = tmp_path_factory.mktemp("sweep")
    (folder / "dse.yaml").write_text(SWEEP)
    path = folder / "results.db"
    with ThreadPoolExecutor(1) as executor, ResultStore(path) as opened:
        run_sweep(Space(load_sweep(folder / "dse.yaml")), opened, executor, strategy="grid", budget=None, seed=0)
    return path


def test_store_gives_the_front_of_its_feasible_points(cli, store: Path, tmp_path: Path) -> None:
    from bitsmith.dse import ResultStore

    with ResultStore(store, create=False) as opened:
        outcomes = opened.outcomes()
    feasible = [o.figures for o in outcomes if o.figures["area_mm2"] <= 1.0]
    assert len(outcomes) == 12 and len(feasible) == 10  # two 32 x 16 arrays break the bound
    # the front by the definition, independently of bitsmith's pareto code
    pairs = [(f["latency_s"], f["energy_j"]) for f in feasible]
    front = [p for p in pairs if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pairs)]
    out = tmp_path / "front.html"
    code, _, err = cli("report", str(store), "-o", str(out))
    assert code == 0, err
    page = out.read_text()
    assert f"{len(front)} of 10 design points are Pareto-optimal for latency_s (min), energy_j (min)" in page
    assert "2 more points break a constraint and 0 failed" in page
    assert "<title>design space: report_sweep</title>" in page
    table = page[page.index("<section id='pareto'>"):]
    assert len(re.findall(r"<tbody>.*?</tbody>", table, re.S)[0].split("<tr>")) - 1 == len(front)


def test_objectives_on_the_command_line_override_the_sweeps(cli, store: Path, tmp_path: Path) -> None:
    out = tmp_path / "front.html"
    code, _, err = cli("report", str(store), "-o", str(out), "--objective", "area_mm2:min",
                       "--objective", "accuracy:max")
    assert code == 0, err
    # accuracy depends on the format alone: int8 on the smallest array (8 x 8)
    # is as accurate as any point and smaller than all others
    page = out.read_text()
    assert "1 of 10 design points are Pareto-optimal for area_mm2 (min), accuracy (max)" in page
    front = re.findall(r"<tbody>(.*?)</tbody>", page[page.index("<section id='pareto'>"):], re.S)[0]
    assert "<td>int8</td>" in front and front.count("<td>8</td>") == 2


def _comparison() -> ComparisonReport:
    """A comparison made by hand: round numbers, so the speed-ups are known."""
    layers = (LayerComparison("fc1", "linear", "int4", 2000, 2e-6, 8e-6),
              LayerComparison("fc2", "linear", "int4", 1000, 1e-6, 2e-6))
    return ComparisonReport("mlp", "bitmod", 1e9, "cpu", layers, 5e-6, 30e-6, Check(1e-4, 1e-3))


def test_comparison_json_round_trips() -> None:
    report = _comparison()
    assert ComparisonReport.from_json(report.to_json()) == report
    with pytest.raises(BitsmithError, match="not a comparison"):
        ComparisonReport.from_json('{"kind": "sweep"}')
    with pytest.raises(BitsmithError, match="missing or unknown fields"):
        ComparisonReport.from_json('{"kind": "comparison", "graph": "mlp"}')


def test_report_of_a_comparison(cli, tmp_path: Path) -> None:
    saved, out = tmp_path / "compare.json", tmp_path / "compare.html"
    saved.write_text(_comparison().to_json())
    code, _, err = cli("report", str(saved), "-o", str(out))
    assert code == 0, err
    page = out.read_text()
    section = page[page.index("<section id='comparison'>"):]
    assert "<svg" in section and "outputs match interpret" in section
    # speed-up = measured / simulated: 8/2, 2/1; GEMMs (8+2)/(2+1); whole model 30/5
    for cells in (("fc1", "2,000", "2.00", "8.00", "4x"), ("fc2", "1,000", "1.00", "2.00", "2x"),
                  ("GEMM layers", "3,000", "3.00", "10.00", "3.33x"), ("whole model", "5.00", "30.00", "6x")):
        assert re.search(".*".join(f"<td>{re.escape(c)}</td>" for c in cells), section), cells


def test_a_json_of_another_kind_is_one_line(cli, tmp_path: Path) -> None:
    saved = tmp_path / "other.json"
    saved.write_text('{"kind": "sweep"}')
    code, _, err = cli("report", str(saved), "-o", str(tmp_path / "x.html"))
    assert code == 1 and "not a comparison" in err and len(err.strip().splitlines()) == 1


def test_compare_saves_json_that_reports(cli, tmp_path: Path) -> None:
    saved = tmp_path / "compare.json"
    code, out, err = cli("compare", "mlp", "--target", "bitmod", "-g", "32", "--repeat", "1", "--json", str(saved))
    assert code == 0, err
    loaded = ComparisonReport.from_json(saved.read_text())
    assert loaded.graph == "mlp" and loaded.layers and loaded.check.ok
    code, _, err = cli("report", str(saved), "-o", str(tmp_path / "compare.html"))
    assert code == 0, err
    assert all(f"<td>{row.name}</td>" in (tmp_path / "compare.html").read_text() for row in loaded.layers)
