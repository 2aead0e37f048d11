"""`QuantSpec` in the IR: carried on a Constant, saved and reloaded bit-identically,
printed and parsed back, dequantised exactly by `interpret`, and checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitsmith.ir import Constant, Graph, GraphBuilder, GraphFormatError, Op, interpret
from bitsmith.ir.dtypes import F32
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.schemes import QuantizationError, shape_only_spec, spec_from_summary
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.parse import parse_graph
from bitsmith.ir.types import TensorType

CASES = [
    ("bitmod4", {}),
    ("bitmod3", {"scale_bits": 8}),
    ("int4", {"asymmetric": True, "scale_bits": 8}),
    ("mxfp4", {}),
    ("mxint8", {}),
    ("olive4", {}),
    ("ternary", {"group_size": None}),
    ("nf4", {"granularity": "tensor"}),
    ("fp6_e3m2", {"group_size": 64, "clip_search": True}),
    ("int4_sym+fp4_e2m1+nf4", {"group_size": 64}),
]


def _weights(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((48, 256)).astype(np.float32)
    w[3, 17], w[10, 200] = 11.0, -9.0  # outliers for OliVe
    return w


def _linear_graph(w: np.ndarray) -> Graph:
    b = GraphBuilder("lin")
    x = b.input("x", TensorType((3, w.shape[1]), F32))
    wn = b.constant("fc.weight", w)
    return b.build([b.op(Op.LINEAR, [x, wn], name="fc")])


def _quantised(graph: Graph, spec: QuantSpec) -> Graph:
    const = graph.constant("fc.weight")
    return graph.replace(constants=[Constant(const.value, None, const.origin, spec)])


@pytest.mark.parametrize(("scheme", "options"), CASES)
def test_save_load_is_bit_identical(tmp_path: Path, scheme: str, options: dict) -> None:
    spec = quantize(_weights(), scheme, **options)
    graph = _quantised(_linear_graph(_weights()), spec)
    graph.save(str(tmp_path / "a.json"))
    loaded = Graph.load(str(tmp_path / "a.json"))
    again = loaded.constant("fc.weight").quant
    assert again == spec
    for name, array in spec.arrays().items():
        assert getattr(again, name).dtype == array.dtype
        assert getattr(again, name).tobytes() == array.tobytes()
    loaded.save(str(tmp_path / "b.json"))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text().replace("b.npz", "a.npz")


@pytest.mark.parametrize(("scheme", "options"), CASES)
def test_interpret_uses_the_exactly_dequantised_weight(scheme: str, options: dict) -> None:
    w = _weights()
    spec = quantize(w, scheme, **options)
    reference = spec.dequantize().astype(np.float32)  # float64 -> the constant's f32, once
    graph = _quantised(_linear_graph(w), spec)
    np.testing.assert_array_equal(graph.constant("fc.weight").data, reference)
    x = np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)
    (out,) = interpret(graph, {"x": x})
    (expected,) = interpret(_linear_graph(reference), {"x": x})
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(reference, w)  # the quantised weight is really in use


def test_dequantize_matches_a_hand_computation_of_the_second_level_scale() -> None:
    w = _weights()
    spec = quantize(w, "int4", asymmetric=True, scale_bits=8)
    row, group = 5, 1
    scale = np.float64(spec.channel_scales[row]) * np.float64(spec.scale_codes[row, group])
    codes = spec.codes[row, 128:256].astype(np.float64)
    expected = (codes - spec.zero_points[row, group]) * scale
    np.testing.assert_array_equal(spec.dequantize()[row, 128:256], expected)


def test_bits_per_weight_counts_the_metadata() -> None:
    shape = (64, 512)
    # BitMoD's 4.0625 (FACTS §1.1: 8-bit scale per group of 128), plus the FP16 per-row scale over K
    assert shape_only_spec(shape, "bitmod4", scale_bits=8).bits_per_weight() == 4 + 8 / 128 + 16 / 512
    assert shape_only_spec(shape, "bitmod4").bits_per_weight(count_selector=True) == 4 + (16 + 2) / 128
    assert shape_only_spec(shape, "mxfp4").bits_per_weight() == 4.25  # OCP MX: E8M0 per 32
    assert shape_only_spec(shape, "int4", asymmetric=True).bits_per_weight() == 4 + (16 + 4) / 128
    assert shape_only_spec(shape, "olive4", group_size=None).bits_per_weight() == 4 + 16 / 512
    # a joined mixture's selector has no scale code to fold into: 2 bits for 3 formats, charged by default
    assert shape_only_spec(shape, "int4_sym+fp4_e2m1+nf4").bits_per_weight() == 4 + (16 + 2) / 128
    assert shape_only_spec(shape, "int4_sym+nf4").bits_per_weight(count_selector=False) == 4 + 16 / 128


def test_text_form_shows_the_spec_and_parses_back_shape_only() -> None:
    spec = quantize(_weights(), "int4", asymmetric=True, scale_bits=8)
    text = str(_quantised(_linear_graph(_weights()), spec))
    assert "%fc.weight = const f32[48,256] parameter quant(int4 group=128 axis=1 asym scale_bits=8)" in text
    parsed = parse_graph(text)
    assert parsed.constant("fc.weight").quant == spec.without_data()
    assert parsed.constant("fc.weight").shape_only
    assert str(parsed) == text.replace("parameter quant", "parameter shape-only quant")


@pytest.mark.parametrize(("text", "message"), [
    ("int4 group=100 axis=1", "does not divide"),
    ("int4 grp axis=1", "cannot read 'grp'"),
    ("nosuch group=128 axis=1", "unknown format 'nosuch'"),
    ("mxfp4 group=32 axis=1 rule=absmax", "fixes scale_rule"),
    ("int4 axis=1", "needs a granularity"),
    ("int4_sym+int8_sym group=128 axis=1", r"mixes element widths \[4, 8\]"),
    ("int4_sym+nosuch group=128 axis=1", "unknown element format 'nosuch'"),
])
def test_bad_spec_text_is_a_one_line_error(text: str, message: str) -> None:
    with pytest.raises(GraphFormatError, match=message) as info:
        parse_graph(f"graph g() {{\n  %w = const f32[48,256] parameter shape-only quant({text})\n  return %w\n}}")
    assert "line 2" in str(info.value) and "\n" not in str(info.value)


def test_spec_summary_round_trips_for_every_case() -> None:
    for scheme, options in CASES:
        spec = quantize(_weights(), scheme, **options).without_data()
        assert spec_from_summary(spec.summary(), spec.shape) == spec


def test_constant_rejects_a_spec_of_another_shape_or_data_beside_a_spec() -> None:
    spec = quantize(_weights(), "int4_sym")
    value = _linear_graph(_weights()).constant("fc.weight").value
    with pytest.raises(ValueError, match="one or the other"):
        Constant(value, _weights(), "parameter", spec)
    other = quantize(_weights()[:, :128], "int4_sym")
    with pytest.raises(ValueError, match="shape"):
        Constant(value, None, "parameter", other)


def _corrupt(tmp_path: Path, edit) -> str:
    graph = _quantised(_linear_graph(_weights()), quantize(_weights(), "bitmod4"))
    path = tmp_path / "g.json"
    graph.save(str(path))
    doc = json.loads(path.read_text())
    edit(doc["graph"]["constants"][0]["quant"])
    path.write_text(json.dumps(doc))
    with pytest.raises(GraphFormatError) as info:
        Graph.load(str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_load_rejects_a_broken_quant_record_naming_the_field(tmp_path: Path) -> None:
    assert "graph.constants[0].quant: missing field 'axis'" in _corrupt(tmp_path, lambda q: q.pop("axis"))
    assert "unknown format 'fp99'" in _corrupt(tmp_path, lambda q: q["formats"].__setitem__(0, "fp99"))
    assert "quant.group_size: expected an integer" in _corrupt(tmp_path, lambda q: q.update(group_size="128"))
    assert "format id" in _corrupt(tmp_path, lambda q: q["formats"].__delitem__(slice(1, None)))
    assert "unknown array 'codez'" in _corrupt(tmp_path, lambda q: q["arrays"].update(codez="fc.weight:codes"))
    assert "missing array scales" in _corrupt(tmp_path, lambda q: q["arrays"].pop("scales"))
    message = _corrupt(tmp_path, lambda q: q["arrays"].update(scales="fc.weight:codes"))
    assert "is uint8, expected float32" in message


def test_quantised_data_field_must_be_null(tmp_path: Path) -> None:
    graph = _quantised(_linear_graph(_weights()), quantize(_weights(), "int4_sym"))
    path = tmp_path / "g.json"
    graph.save(str(path))
    doc = json.loads(path.read_text())
    doc["graph"]["constants"][0]["data"] = "fc.weight:codes"
    path.write_text(json.dumps(doc))
    with pytest.raises(GraphFormatError, match="data: must be null for a quantised constant"):
        Graph.load(str(path))


def test_shape_only_weight_carries_a_shape_only_spec(tmp_path: Path) -> None:
    b = GraphBuilder("big")
    x = b.input("x", TensorType((1, 4096), F32))
    w = b.constant("w", type=TensorType((11008, 4096), F32, "NK"))
    graph = b.build([b.op(Op.LINEAR, [x, w])])
    spec = shape_only_spec((11008, 4096), "bitmod3", scale_bits=8)
    quantised = graph.replace(constants=[Constant(graph.constant("w").value, None, "parameter", spec)])
    quantised.save(str(tmp_path / "big.json"))
    assert not (tmp_path / "big.npz").exists()
    assert Graph.load(str(tmp_path / "big.json")).constant("w").quant == spec
    with pytest.raises(ValueError, match="shape-only"):
        spec.dequantize()


def test_shape_only_spec_checks_the_group_size() -> None:
    with pytest.raises(QuantizationError, match="does not divide axis length 100"):
        shape_only_spec((8, 100), "int4", where="w")
