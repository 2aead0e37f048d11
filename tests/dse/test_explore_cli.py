"""`bitsmith explore` and `explore show`: a run, a report, and one-line errors
that leave an existing store untouched."""

from __future__ import annotations

from pathlib import Path


def test_explore_runs_then_shows_the_front(cli, small_sweep: Path, tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    code, out, err = cli("explore", str(small_sweep), "--strategy", "random", "--budget", "30", "--workers", "1",
                         "--store", str(store))
    assert code == 0, err
    assert "30 points evaluated" in out and "Pareto front over latency, energy, accuracy" in out
    plot, csv = tmp_path / "front.png", tmp_path / "points.csv"
    code, out, err = cli("explore", "show", str(store), "--plot", str(plot), "--csv", str(csv))
    assert code == 0, err
    assert "Pareto front" in out and plot.stat().st_size > 1000
    assert len(csv.read_text().splitlines()) == 31


def test_bad_input_is_one_line_and_leaves_the_store(cli, small_sweep: Path, tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    store.write_bytes(b"")  # an empty file is not a store
    for args, message in (
        (("explore", str(tmp_path / "missing.yaml")), "cannot read"),
        (("explore", str(small_sweep), "--store", str(store)), "not a bitsmith results store"),
        (("explore", "show", str(tmp_path / "none.db")), "no such results store"),
        (("explore", str(small_sweep), "--store", str(tmp_path / "new.db"), "--cluster", "tcp://127.0.0.1:1"),
         "cannot reach a Dask scheduler"),
    ):
        code, out, err = cli(*args)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert store.read_bytes() == b""
    assert not (tmp_path / "new.db").exists()
