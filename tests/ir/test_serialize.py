"""Saving and loading graphs (`ir/serialize.py`): exact round trips, deterministic
bytes, atomic writes, and one-line errors naming the file for every broken input."""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import graphs

from bitsmith.ir import dtypes, serialize
from bitsmith.ir.errors import GraphFormatError, VerifyError
from bitsmith.ir.graph import Graph, GraphBuilder
from bitsmith.ir.ops import Op
from bitsmith.ir.serialize import load, save, sidecar_path
from bitsmith.ir.types import TensorType


def mlp() -> Graph:
    """linear -> clamp -> softmax, with a bf16 scalar, a shape-only weight and attributes
    of every kind."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("mlp")
    x = b.input("x", TensorType((2, 64), dtypes.F32))
    weight = rng.standard_normal((128, 64), dtype=np.float32)
    w = b.constant("fc1.weight", weight, TensorType((128, 64), dtypes.F32, "NK"))
    b.constant("scale", np.array(-0.0, dtype=ml_dtypes.bfloat16), origin="literal")
    b.constant("big", type=TensorType((4096, 4096), dtypes.F16, "NK"))
    h = b.op(Op.LINEAR, [x, w], name="fc1")
    h = b.op(Op.CLAMP, [h], {"min": -math.inf, "max": 6.0})
    h = b.op(Op.SOFTMAX, [h], {"axis": -1})
    return b.build([h])


def shape_only_graph() -> Graph:
    b = GraphBuilder("meta")
    x = b.input("x", TensorType((2, 64), dtypes.F32))
    w = b.constant("w", type=TensorType((8, 64), dtypes.F32))
    return b.build([b.op(Op.LINEAR, [x, w])])


def rewrite_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# --- round trips ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_save_load_save_is_byte_identical(graph: Graph) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp, "a.json"), Path(tmp, "b.json")
        save(graph, first)
        loaded = load(first)
        save(loaded, second)
        assert loaded == graph
        assert str(loaded) == str(graph)
        assert first.read_bytes() == second.read_bytes()
        has_data = any(not c.shape_only for c in graph.constants)
        assert sidecar_path(first).exists() == sidecar_path(second).exists() == has_data
        if has_data:
            assert sidecar_path(first).read_bytes() == sidecar_path(second).read_bytes()


def test_same_graph_gives_same_bytes(tmp_path: Path) -> None:
    save(mlp(), tmp_path / "a.json")
    save(mlp(), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_json_is_strict_ascii_with_a_trailing_newline(tmp_path: Path) -> None:
    b = GraphBuilder("naïve")
    x = b.input("x", TensorType((3,), dtypes.F32))
    b.build([b.op(Op.CLAMP, [x], {"min": math.nan, "max": math.inf})]).save(str(tmp_path / "g.json"))
    text = (tmp_path / "g.json").read_bytes().decode("ascii")
    assert text.endswith("}\n")

    def reject(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    json.loads(text, parse_constant=reject)
    assert '{"$float": "nan"}' in text and '{"$float": "inf"}' in text
    attrs = load(tmp_path / "g.json").nodes[0].attrs
    assert math.isnan(attrs["min"]) and attrs["max"] == math.inf


def test_attribute_kinds_survive(tmp_path: Path) -> None:
    """-0.0 keeps its sign, 1 stays an int and 1.0 a float, lists come back as tuples."""
    b = GraphBuilder("attrs")
    x = b.input("x", TensorType((2, 3), dtypes.F32))
    h = b.op(Op.CLAMP, [x], {"min": -0.0, "max": 1})
    h = b.op(Op.CLAMP, [h], {"min": None, "max": 1.0})
    h = b.op(Op.PERMUTE, [h], {"perm": (1, 0)})
    b.build([h]).save(str(tmp_path / "g.json"))
    clamp0, clamp1, permute = load(tmp_path / "g.json").nodes
    assert math.copysign(1.0, clamp0.attrs["min"]) == -1.0
    assert type(clamp0.attrs["max"]) is int and type(clamp1.attrs["max"]) is float
    assert clamp1.attrs["min"] is None
    assert permute.attrs["perm"] == (1, 0) and isinstance(permute.attrs["perm"], tuple)


def test_numpy_reads_the_sidecar(tmp_path: Path) -> None:
    graph = mlp()
    graph.save(str(tmp_path / "mlp.json"))
    with np.load(tmp_path / "mlp.npz", allow_pickle=False) as npz:
        assert npz.files == ["fc1.weight", "scale"]
        np.testing.assert_array_equal(npz["fc1.weight"], graph.constant("fc1.weight").data)
        # bf16 is stored as its bit pattern; -0.0 in bf16 is 0x8000.
        assert npz["scale"].dtype == np.uint16 and int(npz["scale"]) == 0x8000
    with zipfile.ZipFile(tmp_path / "mlp.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    loaded = Graph.load(str(tmp_path / "mlp.json")).constant("scale")
    assert loaded.data.dtype == ml_dtypes.bfloat16 and loaded.data.shape == ()


def test_sidecar_rule() -> None:
    assert sidecar_path("out/model.json") == Path("out/model.npz")
    assert sidecar_path("model") == Path("model.npz")
    with pytest.raises(ValueError, match="npz"):
        save(mlp(), "weights.npz")


def test_no_sidecar_without_data_and_a_stale_one_is_removed(tmp_path: Path) -> None:
    (tmp_path / "other.npz").write_bytes(b"user data")
    save(mlp(), tmp_path / "g.json")
    assert (tmp_path / "g.npz").exists()
    save(shape_only_graph(), tmp_path / "g.json")
    assert sorted(files_in(tmp_path)) == ["g.json", "other.npz"]
    assert load(tmp_path / "g.json") == shape_only_graph()


def test_save_refuses_an_invalid_graph(tmp_path: Path) -> None:
    graph = mlp()
    broken = graph.replace(outputs=("nowhere",))
    with pytest.raises(VerifyError, match="nowhere"):
        save(broken, tmp_path / "g.json")
    assert files_in(tmp_path) == {}


def test_interrupted_save_leaves_the_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(mlp(), tmp_path / "g.json")
    before = files_in(tmp_path)

    def crash(stream: Any, array: np.ndarray, **kwargs: Any) -> None:
        stream.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        save(mlp().replace(name="other"), tmp_path / "g.json")
    assert files_in(tmp_path) == before  # no temporary files left either


def test_a_save_cut_between_its_two_files_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar is renamed into place before the JSON; if the JSON never follows,
    the old JSON must not silently load the new arrays."""
    save(mlp(), tmp_path / "g.json")
    rng = np.random.default_rng(1)
    b = GraphBuilder("mlp")
    x = b.input("x", TensorType((2, 64), dtypes.F32))
    h = b.op(Op.LINEAR, [x, b.constant("fc1.weight", rng.standard_normal((128, 64), dtype=np.float32))])

    def crash(doc: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(serialize, "_render", crash)
    with pytest.raises(KeyboardInterrupt):
        save(b.build([h]), tmp_path / "g.json")
    monkeypatch.undo()
    with pytest.raises(GraphFormatError, match="SHA-256 differs"):
        load(tmp_path / "g.json")


# --- load errors ---------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "out.json"
    save(mlp(), path)
    return path


def load_error(path: Path, pattern: str, error: type[Exception] = GraphFormatError) -> str:
    """Load `path`, expecting a one-line `error` that starts with the file's name."""
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert re.search(pattern, message), message
    return message


def test_missing_file(tmp_path: Path) -> None:
    load_error(tmp_path / "nope.json", "no such file")


def test_truncated_json(saved: Path) -> None:
    text = saved.read_bytes()
    saved.write_bytes(text[: len(text) // 2])
    load_error(saved, r"not valid JSON .*\(line \d+, column \d+\)$")


def test_garbage_bytes(saved: Path) -> None:
    saved.write_bytes(bytes(range(256)) * 4)
    load_error(saved, "not valid JSON")


def test_duplicate_key(saved: Path) -> None:
    saved.write_text('{"format": "bitsmith-ir", "format": "bitsmith-ir"}')
    load_error(saved, "not valid JSON: duplicate key 'format'$")


def test_foreign_json(saved: Path) -> None:
    saved.write_text('{"layers": [1, 2]}')
    load_error(saved, "format: not a bitsmith IR file")


def test_wrong_version(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc.update(version=2))
    load_error(saved, "version: unsupported version 2; this bitsmith reads version 1")


def test_unknown_op(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["nodes"][1].update(op="foo"))
    load_error(saved, r"graph\.nodes\[1\]\.op: unknown op 'foo'$")


def test_missing_field(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["nodes"][0].pop("attrs"))
    load_error(saved, r"graph\.nodes\[0\]: missing field 'attrs'$")


def test_unknown_field(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["inputs"][0].update(shpae=[2]))
    load_error(saved, r"graph\.inputs\[0\]: unknown field 'shpae'$")


def test_ill_typed_field(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["inputs"][0].update(shape=[2, "64"]))
    load_error(saved, r"graph\.inputs\[0\]\.shape\[1\]: expected an integer, got a string$")


def test_unknown_dtype(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["constants"][0].update(dtype="f8"))
    load_error(saved, r"graph\.constants\[0\]\.dtype: unknown dtype 'f8'")


def test_bad_attribute_object(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["nodes"][1]["attrs"].update(min={"$float": "-infinity"}))
    load_error(saved, r"graph\.nodes\[1\]\.attrs\.min: expected")


def test_missing_sidecar(saved: Path) -> None:
    sidecar_path(saved).unlink()
    load_error(saved, r"sidecar: .*out\.npz is missing")


def test_corrupt_sidecar(saved: Path) -> None:
    sidecar = sidecar_path(saved)
    data = bytearray(sidecar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sidecar.write_bytes(bytes(data))
    load_error(saved, r"sidecar: .*out\.npz does not match this file")


def with_sidecar(path: Path, content: bytes) -> None:
    """Replace the sidecar and record its digest, as if a save had written it."""
    sidecar_path(path).write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    rewrite_json(path, lambda doc: doc.update(sidecar={"sha256": digest}))


def test_unreadable_sidecar_with_a_matching_digest(saved: Path) -> None:
    with_sidecar(saved, b"PK\x03\x04 not really a zip")
    load_error(saved, r"sidecar: .*out\.npz is not a readable npz archive")


def npz_bytes(tmp_path: Path, **arrays: np.ndarray) -> bytes:
    np.savez(tmp_path / "scratch.npz", **arrays)
    return (tmp_path / "scratch.npz").read_bytes()


def test_sidecar_shape_disagrees_with_the_json(saved: Path, tmp_path: Path) -> None:
    bits = np.zeros((), np.uint16)
    with_sidecar(saved, npz_bytes(tmp_path, **{"fc1.weight": np.zeros((3, 3), np.float32), "scale": bits}))
    load_error(saved, r"graph\.constants\[0\]\.data: array 'fc1.weight' in .*out\.npz is float32\[3,3\] "
                      r"but the JSON says f32\[128,64\]@NK$")


def test_sidecar_dtype_disagrees_with_the_json(saved: Path, tmp_path: Path) -> None:
    weight = np.zeros((128, 64), np.float32)
    with_sidecar(saved, npz_bytes(tmp_path, **{"fc1.weight": weight, "scale": np.zeros((), np.float32)}))
    load_error(saved, r"graph\.constants\[1\]\.data: array 'scale' .* is float32\[\] but the JSON says bf16\[\]$")


def test_sidecar_lacks_an_array(saved: Path, tmp_path: Path) -> None:
    with_sidecar(saved, npz_bytes(tmp_path, **{"fc1.weight": np.zeros((128, 64), np.float32)}))
    load_error(saved, r"graph\.constants\[1\]\.data: no array 'scale'")


def test_loaded_graph_is_verified(saved: Path) -> None:
    rewrite_json(saved, lambda doc: doc["graph"]["nodes"][0]["output"].update(shape=[2, 127]))
    load_error(saved, r"node %fc1 \(linear\): declared type f32\[2,127\]", VerifyError)
