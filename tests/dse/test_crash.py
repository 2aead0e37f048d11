"""Crash safety: `bitsmith explore` killed with SIGKILL (with its worker
processes) at random moments in the middle of a sweep, then resumed, stores every
point exactly once, equal to an uninterrupted run, and the file is never corrupt."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dse_sweeps import CRASH_SWEEP

from bitsmith.dse import ResultStore, Space, load_sweep, run_sweep
from bitsmith.dse.execute import lowered_workloads

BITSMITH = [sys.executable, "-c", "from bitsmith.cli import main; main()"]


def _rows(path: Path) -> int:
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0


def _explore(sweep: Path, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*BITSMITH, "explore", str(sweep), "--store", str(store), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_killed_sweeps_resume_to_the_uninterrupted_result(tmp_path: Path) -> None:
    sweep = tmp_path / "dse.yaml"
    sweep.write_text(CRASH_SWEEP)
    store = tmp_path / "killed.db"
    total = Space(load_sweep(sweep)).size
    rng = random.Random(7)
    for _ in range(2):
        process = _explore(sweep, store)
        start = _rows(store)
        # A random moment mid-sweep: once a random number of this run's points are in
        # (within the first half of what is left, so the kill lands before the end),
        # then a random part of a batch later, often in the middle of a commit.
        wanted = rng.randint(start + 1, start + (total - start) // 2)
        while process.poll() is None and _rows(store) < wanted:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        assert process.poll() is None, "the sweep finished before it was killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        with sqlite3.connect(store) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert start < _rows(store) < total
    assert _explore(sweep, store).wait(timeout=300) == 0

    loaded = load_sweep(sweep)
    with ThreadPoolExecutor(2) as pool, ResultStore(tmp_path / "clean.db") as clean:
        run_sweep(Space(loaded), clean, pool, strategy="grid", budget=None, seed=0,
                  graphs=lowered_workloads(loaded.spec))
    contents = []
    for path in (store, tmp_path / "clean.db"):
        with ResultStore(path, create=False) as opened:
            contents.append([(o.hash, o.config, o.ok, o.figures, o.error) for o in opened.outcomes()])
    assert len(contents[0]) == len({row[0] for row in contents[0]}) == total
    assert contents[0] == contents[1]
