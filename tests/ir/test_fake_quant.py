"""The `fake_quant` op: its values against independent numpy / ml_dtypes / torch
references (static and per-token scales, signed, unsigned, FP8 and 16-bit grids),
the rounding properties any grid must keep, its attribute checks, and its round
trips through the text form and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bitsmith.ir as ir
from bitsmith.ir.dtypes import F16, F32, I32
from bitsmith.ir.formats import get_format
from bitsmith.ir.parse import parse_graph

PROPERTY = settings(max_examples=60, deadline=None)
FINITE = st.floats(-1e3, 1e3, width=32, allow_subnormal=False)
SCALES = st.floats(1e-3, 10.0)


def fake_quant(x: np.ndarray, **attrs: Any) -> np.ndarray:
    """The interpreter's `fake_quant(x, **attrs)` on a one-node graph."""
    b = ir.GraphBuilder("fq")
    name = b.input("x", ir.TensorType(x.shape, F32 if x.dtype == np.float32 else F16))
    graph = b.build([b.op(ir.Op.FAKE_QUANT, [name], attrs)]).verify()
    return ir.interpret(graph, [x])[0]


def static(fmt: str, scale: float, **extra: Any) -> dict[str, Any]:
    return dict(format=fmt, scale=scale, granularity="tensor", **extra)


@PROPERTY
@given(arrays(np.float32, st.integers(1, 40), elements=FINITE), SCALES)
def test_int8_sym_is_clip_rint_times_scale(x: np.ndarray, scale: float) -> None:
    expected = (np.clip(np.rint(x.astype(np.float64) / scale), -127, 127) * scale).astype(np.float32)
    np.testing.assert_array_equal(fake_quant(x, **static("int8_sym", scale)), expected)


@PROPERTY
@given(arrays(np.float32, st.integers(1, 40), elements=FINITE), st.integers(-10, 4).map(lambda e: 2.0**e))
def test_fp8_e4m3_is_the_ml_dtypes_cast_saturated(x: np.ndarray, scale: float) -> None:
    # Power-of-two scales keep x / s exact in float32: ml_dtypes casts float64 through
    # float32, which rounds twice (0.4 / 0.001 = 400.000006 becomes the tie 400.0).
    units = np.clip(x / np.float32(scale), -448, 448)
    expected = (units.astype(ml_dtypes.float8_e4m3fn).astype(np.float64) * scale).astype(np.float32)
    np.testing.assert_array_equal(fake_quant(x, **static("fp8_e4m3", scale)), expected)


@PROPERTY
@given(st.sampled_from(["int8_sym", "int4", "uint8", "fp8_e4m3", "fp4_e2m1", "nf4", "i16"]), SCALES,
       st.data())
def test_grid_points_are_fixed_and_error_is_at_most_half_a_step(fmt: str, scale: float, data: st.DataObject) -> None:
    grid = np.arange(-32768, 32768, 97.0) if fmt == "i16" else get_format(fmt).grid
    zero = 0 if grid[0] < 0 else data.draw(st.integers(0, int(grid[-1])), label="zero_point")
    attrs = static(fmt, scale, **({"zero_point": zero} if grid[0] >= 0 else {}))
    on_grid = ((grid - zero) * scale).astype(np.float32)
    np.testing.assert_allclose(fake_quant(on_grid, **attrs), on_grid, rtol=1e-6)
    lo, hi = (grid[0] - zero) * scale, (grid[-1] - zero) * scale
    inside = np.asarray(data.draw(st.lists(st.floats(lo, hi), min_size=1, max_size=20)), np.float32)
    half_step = float(np.max(np.diff(grid))) / 2 * scale
    assert np.all(np.abs(fake_quant(inside, **attrs) - inside) <= half_step * (1 + 1e-5) + 1e-6)


def test_per_token_scales_each_row_by_its_own_absmax() -> None:
    gains = np.array([[1], [10], [0.01]], np.float32)
    x = np.random.default_rng(0).standard_normal((2, 3, 16)).astype(np.float32) * gains
    x[1, 2] = 0.0  # an all-zero row keeps scale 1 and stays zero
    scale = np.abs(x.astype(np.float64)).max(axis=-1, keepdims=True) / 127
    scale[scale == 0] = 1.0
    expected = (np.clip(np.rint(x / scale), -127, 127) * scale).astype(np.float32)
    np.testing.assert_array_equal(fake_quant(x, format="int8_sym"), expected)
    assert not fake_quant(x, format="int8_sym")[1, 2].any()


def test_per_token_unsigned_rows_match_torchs_affine_fake_quant() -> None:
    x = np.random.default_rng(1).standard_normal((4, 32)).astype(np.float32) + np.float32(0.5)
    ours = fake_quant(x, format="uint8")
    for row, out in zip(x, ours, strict=True):
        lo, hi = min(float(row.min()), 0.0), max(float(row.max()), 0.0)
        scale = (hi - lo) / 255
        zero = int(np.clip(np.rint(-lo / scale), 0, 255))
        expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(row).double(), scale, zero, 0, 255)
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-6, atol=1e-7)


def test_saturates_keeps_nan_and_rounds_half_precision_inputs_once() -> None:
    x = np.array([1e6, -1e6, np.inf, -np.inf, np.nan, 0.25], np.float32)
    out = fake_quant(x, **static("fp8_e4m3", 0.5))
    np.testing.assert_array_equal(out[:4], [224.0, -224.0, 224.0, -224.0])  # 448 · 0.5, never NaN or inf
    assert np.isnan(out[4]) and out[5] == 0.25
    half = np.array([0.3, -1.7], np.float16)
    assert fake_quant(half, **static("int4_sym", 0.25)).dtype == np.float16


def test_wide_integer_grid_saturates_at_its_dtype_range() -> None:
    x = np.array([40000.4, -40000.0, 2.5, 3.5, -2.5], np.float32)
    np.testing.assert_array_equal(fake_quant(x, **static("i16", 1.0)), [32767, -32768, 2, 4, -2])


@pytest.mark.parametrize(("attrs", "message"), [
    (dict(format="int9_sym"), r"unknown activation format 'int9_sym'"),
    (dict(format="e8m0"), r"format 'e8m0' cannot hold activations"),
    (dict(format="int8", granularity="channel"), r"granularity must be one of tensor, token, got 'channel'"),
    (dict(format="int8", granularity="tensor"), r"granularity 'tensor' needs a positive finite scale, got None"),
    (dict(format="int8", scale=-0.1, granularity="tensor"), r"positive finite scale, got -0.1"),
    (dict(format="int8", scale=float("inf"), granularity="tensor"), r"positive finite scale, got inf"),
    (dict(format="int8", scale=0.1), r"granularity 'token' computes its scale per row"),
    (dict(format="int8", scale=0.1, granularity="tensor", zero_point=3), r"zero_point is for unsigned formats"),
    (dict(format="uint8", scale=0.1, granularity="tensor"),
     r"uint8 needs an integer zero_point in \[0, 255\], got None"),
    (dict(format="uint4", scale=0.1, granularity="tensor", zero_point=16), r"zero_point in \[0, 15\], got 16"),
])
def test_bad_attributes_are_one_line_verify_errors(attrs: dict[str, Any], message: str) -> None:
    b = ir.GraphBuilder("bad")
    x = b.input("x", ir.TensorType((2, 4), F32))
    with pytest.raises(ir.VerifyError, match=r"node %fake_quant \(fake_quant\): .*" + message) as err:
        b.op(ir.Op.FAKE_QUANT, [x], attrs)
    assert "\n" not in str(err.value)


def test_integer_operand_is_a_verify_error() -> None:
    b = ir.GraphBuilder("bad")
    x = b.input("x", ir.TensorType((2, 4), I32))
    with pytest.raises(ir.VerifyError, match="needs a float operand, got i32"):
        b.op(ir.Op.FAKE_QUANT, [x], dict(format="int8"))


TEXT = """
graph fq(%x: f32[2,8]) {
  %w = const f32[4,8]@NK parameter shape-only
  %x.int8 = fake_quant(%x, format='int8') : f32[2,8]
  %x.uint8 = fake_quant(%x, format='uint8', scale=0.0123456789, granularity='tensor', zero_point=17) : f32[2,8]
  %y = linear(%x.int8, %w) : f32[2,4]
  return %y, %x.uint8
}
"""


def test_text_form_and_json_round_trip(tmp_path: Path) -> None:
    graph = parse_graph(TEXT).verify()
    assert str(graph) == TEXT.strip()
    assert parse_graph(str(graph)) == graph
    node = graph.producer("x.uint8")
    assert node.attrs == dict(format="uint8", scale=0.0123456789, granularity="tensor", zero_point=17)
    graph.save(str(tmp_path / "fq.json"))
    assert ir.Graph.load(str(tmp_path / "fq.json")) == graph
