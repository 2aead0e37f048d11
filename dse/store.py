"""The result store: one SQLite file, one row per evaluated point, append-only.

Rows are keyed by the point's hash (space.py: its full configuration and the
bitsmith version), so a sweep that is run again, or resumed after being killed,
skips every point already stored and can never store one twice. The sweep
process is the only writer; it commits each finished batch in one transaction,
in WAL mode (synchronous=NORMAL), so a crash at any instant loses at most the
batches not yet committed and never leaves a torn row or a corrupt file.
Triggers refuse UPDATE and DELETE on points: results are facts about a bitsmith
version, never edited.

`meta.store_format` says which layout a file has. A store of another format, or
a file that is not a store, is refused with one line before anything is
written to it (it is first opened read-only).

    meta(key PRIMARY KEY, value)             store_format, created_by (bitsmith version)
    sweeps(name PRIMARY KEY, spec)           the latest spec (JSON) run under each name
    points(hash PRIMARY KEY, sweep, version, config JSON, status 'ok'|'failed', error,
           latency_s, energy_j, area_mm2, edp_js, accuracy, avg_bits)
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from bitsmith.dse.evaluate import Outcome
from bitsmith.dse.spec import SweepError

STORE_FORMAT = 1
FIGURES = ("latency_s", "energy_j", "area_mm2", "edp_js", "accuracy", "avg_bits")
_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE points (
    hash TEXT PRIMARY KEY, sweep TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT,
    {", ".join(f"{name} REAL" for name in FIGURES)}
);
CREATE TRIGGER points_no_update BEFORE UPDATE ON points BEGIN SELECT RAISE(ABORT, 'points are append-only'); END;
CREATE TRIGGER points_no_delete BEFORE DELETE ON points BEGIN SELECT RAISE(ABORT, 'points are append-only'); END;
"""


def check_store(path: str | os.PathLike[str]) -> None:
    """Refuse a file that is not a compatible store, reading it only."""
    if not Path(path).exists():
        return
    try:
        with sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'store_format'").fetchone()
            writer = db.execute("SELECT value FROM meta WHERE key = 'created_by'").fetchone()
    except sqlite3.DatabaseError:
        raise SweepError(f"{path}: not a bitsmith results store") from None
    if row is None:
        raise SweepError(f"{path}: not a bitsmith results store (no store_format)")
    if row[0] != str(STORE_FORMAT):
        by = f" by bitsmith {writer[0]}" if writer else ""
        raise SweepError(f"{path}: store format {row[0]} (written{by}); this bitsmith reads format {STORE_FORMAT} "
                         f"- use a new --store")


class ResultStore:
    """An open store (module docstring); use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        check_store(path)
        if not create and not Path(path).exists():
            raise SweepError(f"{path}: no such results store")
        from bitsmith.dse.space import BITSMITH_VERSION

        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self.db.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
            with self._transaction():
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("store_format", str(STORE_FORMAT)), ("created_by", BITSMITH_VERSION)])

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def record_sweep(self, name: str, spec: dict[str, object]) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO sweeps VALUES (?, ?)", (name, json.dumps(spec, sort_keys=True)))

    def sweep_spec(self, name: str | None = None) -> tuple[str, dict[str, object]]:
        """The spec stored under `name` (default: the only sweep, or the last one written)."""
        rows = self.db.execute("SELECT name, spec FROM sweeps ORDER BY rowid").fetchall()
        if name is not None:
            rows = [row for row in rows if row[0] == name]
        if not rows:
            raise SweepError(f"{self.path}: no sweep{f' named {name}' if name else ''} in this store")
        return rows[-1][0], json.loads(rows[-1][1])

    def add(self, outcomes: Iterable[Outcome], sweep: str) -> int:
        """Append outcomes in one transaction; a point already stored is skipped. Returns rows added."""
        from bitsmith.dse.space import BITSMITH_VERSION

        rows = [(o.hash, sweep, BITSMITH_VERSION, json.dumps(o.config, sort_keys=True),
                 "ok" if o.ok else "failed", o.error, *(o.figures.get(name) for name in FIGURES)) for o in outcomes]
        with self._transaction():
            before = self.db.total_changes
            self.db.executemany(f"INSERT OR IGNORE INTO points VALUES ({', '.join('?' * (6 + len(FIGURES)))})", rows)
            return self.db.total_changes - before

    def get(self, hashes: Sequence[str]) -> dict[str, Outcome]:
        """The stored outcomes among `hashes`."""
        found: dict[str, Outcome] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start:start + 500])
            query = f"SELECT * FROM points WHERE hash IN ({', '.join('?' * len(chunk))})"
            found.update((o.hash, o) for o in map(_outcome, self.db.execute(query, chunk)))
        return found

    def outcomes(self, sweep: str | None = None) -> list[Outcome]:
        """Stored outcomes (of `sweep`, or all), ordered by hash."""
        where, args = ("WHERE sweep = ?", (sweep,)) if sweep else ("", ())
        return [_outcome(row) for row in self.db.execute(f"SELECT * FROM points {where} ORDER BY hash", args)]

    def export(self, path: str | os.PathLike[str], sweep: str | None = None) -> None:
        """Write the points as CSV or Parquet (by suffix), one column per axis and figure."""
        outcomes = self.outcomes(sweep)
        axes = list(dict.fromkeys(key for o in outcomes for key in o.config))
        columns = ["hash", *axes, "status", "error", *FIGURES]
        rows = [[o.hash, *(_cell(o.config.get(a)) for a in axes), "ok" if o.ok else "failed", o.error,
                 *(o.figures.get(f) for f in FIGURES)] for o in outcomes]
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            with open(path, "w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(columns)
                writer.writerows(rows)
        elif suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)}), path)
        else:
            raise SweepError(f"{path}: export writes .csv or .parquet, not {suffix or 'a file without a suffix'}")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _outcome(row: tuple[object, ...]) -> Outcome:
    hash_, _, _, config, status, error, *figures = row
    values = {name: value for name, value in zip(FIGURES, figures, strict=True) if value is not None}
    return Outcome(str(hash_), json.loads(str(config)), status == "ok", values, error)


def _cell(value: object) -> str:
    """An axis value as one CSV/Parquet cell: text, so a column has one type
    (`16B/cycle`, `int4+int8`, `null`)."""
    from bitsmith.dse.space import label

    return label(value)
