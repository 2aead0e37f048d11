"""Running a sweep: every point stored once, failures stored with their reason,
a second run reads instead of evaluating, and a Dask cluster stores exactly what
local processes store."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bitsmith.dse import ResultStore, Space, SweepError, load_sweep, open_executor, run_sweep
from bitsmith.dse.report import pareto
from bitsmith.ir.graph import Graph


def _contents(path: Path) -> list[tuple[object, ...]]:
    with ResultStore(path, create=False) as store:
        return [(o.hash, o.config, o.ok, o.figures, o.error) for o in store.outcomes()]


def _sweep(sweep: Path, store_path: Path, executor, graphs: tuple[Graph, ...], **options):
    space = Space(load_sweep(sweep))
    with ResultStore(store_path) as store:
        return run_sweep(space, store, executor, strategy=options.pop("strategy", "grid"),
                         budget=options.pop("budget", None), seed=0, graphs=graphs, **options)


def test_grid_stores_every_point_once_and_resumes(small_sweep: Path, mlp_graphs: tuple[Graph, ...],
                                                  tmp_path: Path) -> None:
    store_path = tmp_path / "results.db"
    with ThreadPoolExecutor(2) as pool:
        first = _sweep(small_sweep, store_path, pool, mlp_graphs, batch_size=7)
        again = _sweep(small_sweep, store_path, pool, mlp_graphs)
    assert (first.evaluated, first.reused) == (144, 0)
    assert (again.evaluated, again.reused) == (0, 144)
    rows = _contents(store_path)
    assert len(rows) == len({row[0] for row in rows}) == 144
    failed = [row for row in rows if not row[2]]
    assert failed and all("infeasible" in row[4] and "\n" not in row[4] for row in failed)
    ok = [row for row in rows if row[2]]
    assert all(row[3]["edp_js"] == pytest.approx(row[3]["energy_j"] * row[3]["latency_s"]) for row in ok)
    with ResultStore(store_path, create=False) as store:
        spec = Space(load_sweep(small_sweep)).sweep.spec
        found = pareto(spec, store.outcomes())
    assert found.front and found.infeasible  # area <= 1 mm2 rules out the 32-row arrays
    assert all(o.figures["area_mm2"] <= 1.0 for o in found.front)


def test_store_is_append_only_and_exports(small_sweep: Path, mlp_graphs: tuple[Graph, ...], tmp_path: Path) -> None:
    store_path = tmp_path / "results.db"
    with ThreadPoolExecutor(1) as pool:
        _sweep(small_sweep, store_path, pool, mlp_graphs, budget=10)
    with ResultStore(store_path) as store:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute("UPDATE points SET latency_s = 0")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute("DELETE FROM points")
        store.export(tmp_path / "points.csv")
        store.export(tmp_path / "points.parquet")
    assert len((tmp_path / "points.csv").read_text().splitlines()) == 11
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "points.parquet")
    assert table.num_rows == 10 and "pe_array.rows" in table.column_names and "latency_s" in table.column_names


def test_a_store_of_another_format_is_refused_untouched(tmp_path: Path) -> None:
    store_path = tmp_path / "old.db"
    with ResultStore(store_path):
        pass
    with sqlite3.connect(store_path) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'store_format'")
    before = store_path.read_bytes()
    with pytest.raises(SweepError, match="store format 0 .* reads format 1"):
        ResultStore(store_path)
    assert store_path.read_bytes() == before
    (tmp_path / "junk.db").write_text("not sqlite at all " * 100)
    with pytest.raises(SweepError, match="not a bitsmith results store"):
        ResultStore(tmp_path / "junk.db")


def test_dask_local_cluster_stores_what_local_processes_store(small_sweep: Path, mlp_graphs: tuple[Graph, ...],
                                                              tmp_path: Path) -> None:
    with open_executor(None, workers=2) as pool:
        _sweep(small_sweep, tmp_path / "local.db", pool, mlp_graphs, strategy="nsga2", budget=48)
    with open_executor("local:2") as dask:
        _sweep(small_sweep, tmp_path / "dask.db", dask, mlp_graphs, strategy="nsga2", budget=48)
    local = _contents(tmp_path / "local.db")
    assert len(local) == 48
    assert _contents(tmp_path / "dask.db") == local


@pytest.mark.parametrize("address, message", [("tcp://127.0.0.1:1", "cannot reach a Dask scheduler"),
                                              ("udp://x", "give tcp://HOST:PORT"), ("local:0", "positive number")])
def test_bad_cluster_addresses_are_one_line_errors(address: str, message: str) -> None:
    with pytest.raises(SweepError, match=message):
        with open_executor(address):
            pass
