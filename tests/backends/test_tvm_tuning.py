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


def _two_layer_graph():
    from bitsmith.ir.dtypes import dtype
    from bitsmith.ir.graph import GraphBuilder
    from bitsmith.ir.ops import Op
    from bitsmith.ir.types import TensorType
    from bitsmith.passes.quantize_weights import quantize_weights

    rng = np.random.default_rng(5)
    b = GraphBuilder("two_layers")
    x = b.input("x", TensorType((1, 128), dtype("f32")))
    hidden = b.op(Op.LINEAR, [x, b.constant("w1", rng.standard_normal((64, 128), np.float32))])
    out = b.op(Op.LINEAR, [hidden, b.constant("w2", rng.standard_normal((32, 64), np.float32))])
    graph = quantize_weights(b.build([out]), "int4_sym", group_size=32)[0]
    return graph, {"x": rng.standard_normal((1, 128), np.float32)}


@pytest.mark.skipif(not supports("vnni"), reason="this CPU lacks AVX-512 VNNI")
def test_tuned_lowering_takes_each_layers_schedule_from_the_search() -> None:
    from bitsmith.backends.tvm.graph_runtime import GraphRunner

    graph, inputs = _two_layer_graph()
    entries = {tuning.tuning_key(graph.constant(name).quant, 1, ("vnni",)): {"layout": "vnni", "rows": 32,
                                                                            "seconds": 1e-6}
               for name in ("w1", "w2")}  # a winner the default (16 rows) is not
    tuning.cache_path().parent.mkdir(parents=True)
    tuning.cache_path().write_text(json.dumps(entries))
    tuned = GraphRunner(graph, tune=True)
    assert [(layer.path, layer.schedule) for layer in tuned.lowered.packed] == [("vnni", KernelSchedule(rows=32))] * 2
    assert tuned.check(inputs).ok
    assert all(layer.schedule == KernelSchedule() for layer in GraphRunner(graph).lowered.packed)


@pytest.mark.skipif(not supports("vnni"), reason="this CPU lacks AVX-512 VNNI")
def test_tuned_lowering_searches_and_caches_each_layer_shape() -> None:
    from bitsmith.backends.tvm.graph_runtime import GraphRunner

    graph, inputs = _two_layer_graph()
    runner = GraphRunner(graph, tune=True)
    entries = json.loads(tuning.cache_path().read_text())
    assert len(entries) == 2 and all(e["layout"] == "vnni" for e in entries.values())
    chosen = {KernelSchedule(rows=e["rows"]) for e in entries.values()}
    assert {layer.schedule for layer in runner.lowered.packed} == chosen
    assert runner.check(inputs).ok


def test_the_memory_regime_is_its_own_search() -> None:
    """Timed with the weights flushed from the caches, a layer gets its own entry:
    the fastest task size from DRAM is not always the fastest from cache."""
    warm = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1)
    cold = tuning.tune(_spec(), layouts=("blocked",), repeat=2, min_repeat_ms=1, from_memory=True)
    assert not cold.cached and cold.seconds > 0
    keys = [json.loads(key) for key in json.loads(tuning.cache_path().read_text())]
    assert sorted(key["from_memory"] for key in keys) == [False, True]
    assert tuning.tune(_spec(), layouts=("blocked",), from_memory=True).cached
    assert tuning.tune(_spec(), layouts=("blocked",)).schedule == warm.schedule


def test_last_level_cache_is_read_from_sysfs() -> None:
    size = tuning.last_level_cache_bytes()
    assert size is None or size >= 1 << 20  # a last-level cache is megabytes


@pytest.mark.skipif(not supports("vnni"), reason="this CPU lacks AVX-512 VNNI")
def test_a_model_larger_than_the_cache_is_tuned_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from bitsmith.backends.tvm import graph_runtime

    graph, inputs = _two_layer_graph()
    weight_bytes = sum(graph.constant(n).type.numel * graph.constant(n).quant.bits_per_weight() / 8
                       for n in ("w1", "w2"))
    monkeypatch.setattr(graph_runtime, "last_level_cache_bytes", lambda: int(weight_bytes) - 1)
    assert graph_runtime.weights_exceed_cache(graph)
    entries = {tuning.tuning_key(graph.constant(name).quant, 1, ("vnni",), from_memory=True):
               {"layout": "vnni", "rows": 32, "seconds": 1e-6} for name in ("w1", "w2")}
    tuning.cache_path().parent.mkdir(parents=True)
    tuning.cache_path().write_text(json.dumps(entries))
    runner = graph_runtime.GraphRunner(graph, tune=True)
    assert {layer.schedule for layer in runner.lowered.packed} == {KernelSchedule(rows=32)}
    assert len(json.loads(tuning.cache_path().read_text())) == 2  # read, nothing measured
    monkeypatch.setattr(graph_runtime, "last_level_cache_bytes", lambda: int(weight_bytes) + 1)
    assert not graph_runtime.weights_exceed_cache(graph)
    monkeypatch.setattr(graph_runtime, "last_level_cache_bytes", lambda: None)
    assert not graph_runtime.weights_exceed_cache(graph)
