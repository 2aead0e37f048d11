"""The tuning search: it measures every candidate the host can run, keeps the
fastest, caches it under XDG_CACHE_HOME, and survives a corrupt cache file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitsmith.backends.tvm import tuning
from bitsmith.backends.tvm.kernels import KernelSchedule
from bitsmith.backends.tvm.runtime import supports
from bitsmith.ir.formats.quantize import quantize


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def _spec(scheme: str = "int4_sym"):
    w = np.random.default_rng(0).standard_normal((32, 256)).astype(np.float32)
    return quantize(w, scheme, group_size=128)


def test_cache_path_respects_xdg_cache_home(cache_home: Path) -> None:
    assert tuning.cache_path() == cache_home / "bitsmith" / "tvm_tuning.json"


def test_candidates_cover_every_path_the_host_and_format_allow() -> None:
    layouts = {layout for layout, _ in tuning.candidates(_spec())}
    assert layouts == {layout for layout in ("blocked", "vnni", "lut") if supports(layout)}
    assert {layout for layout, _ in tuning.candidates(_spec("nf4"))} == {"blocked"}  # no integer path


def test_tune_measures_once_then_reads_the_cache() -> None:
    first = tuning.tune(_spec(), repeat=2, min_repeat_ms=1)
    assert not first.cached and first.seconds > 0
    assert (first.layout, first.schedule) in tuning.candidates(_spec())
    second = tuning.tune(_spec(), repeat=2, min_repeat_ms=1)
    assert second == tuning.Tuned(first.layout, first.schedule, first.seconds, cached=True)


def test_allowed_layouts_are_part_of_the_key() -> None:
    exact = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1)
    assert exact.layout == "blocked" and not exact.cached
    entries = json.loads(tuning.cache_path().read_text())
    assert len(entries) == 1 and json.loads(next(iter(entries)))["layouts"] == ["blocked"]


@pytest.mark.parametrize("garbage", ["{not json", "[1, 2]", ""])
def test_corrupt_cache_is_ignored_and_rewritten(garbage: str) -> None:
    path = tuning.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(garbage)
    result = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1)
    assert not result.cached
    entries = json.loads(path.read_text())  # valid JSON again, holding the result
    assert [entry["layout"] for entry in entries.values()] == ["blocked"]
    assert not list(path.parent.glob("*.tmp"))


def test_malformed_entry_is_measured_again() -> None:
    key = tuning.tuning_key(_spec(), 1, ("blocked",))
    path = tuning.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({key: {"layout": "blocked"}}))  # no rows, no seconds
    result = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1)
    assert not result.cached and isinstance(result.schedule, KernelSchedule)


def test_unwritable_cache_directory_still_returns_a_result(cache_home: Path) -> None:
    (cache_home / "bitsmith").write_text("a file where the directory should be")
    result = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1)
    assert result.layout == "blocked" and not result.cached
