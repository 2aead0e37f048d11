"""The numpy quantiser (ir/formats/quantize.py): error bounds, exact round trips,
BitMoD's per-group mixture rule, BitNet b1.58 ternary, OCP MX, second-level scales,
and the error paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats import MIXTURES, UnknownFormatError, get_format
from bitsmith.ir.formats.quantize import _codec, half_step, quantize
from bitsmith.ir.formats.schemes import QuantizationError, mixture_name, resolve_scheme

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEIGHTS = arrays(np.float64, (4, 64), elements=st.floats(-100, 100, allow_subnormal=False))


def _f32_tol(w: np.ndarray) -> float:
    return 1e-6 * (float(np.max(np.abs(w))) + 1.0)


@pytest.mark.parametrize("name", ["int4_sym", "fp4_e2m1", "nf4"])
@PROPERTY
@given(w=WEIGHTS)
def test_absmax_error_is_at_most_half_a_grid_step(name: str, w: np.ndarray) -> None:
    q = quantize(w, name, group_size=16)
    err = np.abs(q.dequantize().astype(np.float64) - w).reshape(4, 4, 16)
    bound = half_step(name) * q.scales.astype(np.float64)[:, :, None]
    assert (err <= bound * (1 + 1e-9) + _f32_tol(w)).all()


@pytest.mark.parametrize("name", ["int4_sym", "fp4_e2m1", "nf4", "bitmod_fp4_ea_neg", "bitmod_fp3_er_pos",
                                  "fp6_e3m2", "fp8_e4m3", "ternary", "flint4", "int8_sym"])
def test_fast_rounding_matches_format_encode(name: str) -> None:
    fmt = get_format(name)
    g = fmt.grid
    rng = np.random.default_rng(1)
    x = np.concatenate([g, (g[1:] + g[:-1]) / 2, rng.uniform(g[0] * 1.2, g[-1] * 1.2, 2000), [-0.0, -1e-9]])
    codec = _codec((name,))
    got = codec.encode(0, codec.index(x), x)
    np.testing.assert_array_equal(got, fmt.encode(np.clip(x, g[0], g[-1])))


def test_asymmetric_int_round_trip_of_grid_values_is_exact() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, size=(3, 32))
    codes[:, 0], codes[:, 1] = 0, 15  # the grid's ends are present, so min/max fix the scale
    zp, scale = np.array([5, 0, 15]), 2.0**-3
    w = (codes - zp[:, None]) * scale
    q = quantize(w, "int4", group_size=32, asymmetric=True)
    assert q.formats == ("uint4",)
    np.testing.assert_array_equal(q.zero_points.ravel(), zp)
    np.testing.assert_array_equal(q.codes, codes)
    np.testing.assert_array_equal(q.dequantize(), w)


@pytest.mark.parametrize(("values_scale", "special", "expected"), [
    (0.25, 16.0, "bitmod_fp4_ea_pos"), (0.25, -16.0, "bitmod_fp4_ea_neg"),
    (0.5, 10.0, "bitmod_fp4_er_pos"), (0.5, -10.0, "bitmod_fp4_er_neg"),
])
def test_mixture_picks_the_grid_the_group_lies_on(values_scale: float, special: float, expected: str) -> None:
    rng = np.random.default_rng(3)
    base = np.array([0, 1, 2, 3, 4, 6, 8, 12], dtype=float)
    grid_units = rng.choice(np.concatenate([base, -base]), size=128)
    grid_units[0] = special
    grid_units[1] = 12.0 if abs(special) == 10 else grid_units[1]  # ER: absmax 12 sets the scale
    w = np.stack([values_scale * grid_units, rng.standard_normal(128)])
    q = quantize(w, "bitmod4")
    assert q.formats[q.format_ids[0, 0]] == expected
    np.testing.assert_array_equal(q.dequantize()[0], w[0])


@pytest.mark.parametrize("mix", ["bitmod4", "bitmod3", "ant4"])
@PROPERTY
@given(w=WEIGHTS)
def test_mixture_group_mse_is_at_most_each_candidates(mix: str, w: np.ndarray) -> None:
    def group_mse(name: str) -> np.ndarray:  # in float64, so float32 output rounding is not in the way
        q = quantize(w, name, group_size=16)
        table = np.stack([get_format(n).values for n in q.formats])
        vals = table[q.format_ids[:, :, None], q.codes.reshape(4, 4, 16)] * q.effective_scales()[:, :, None]
        return np.mean((vals - w.reshape(4, 4, 16)) ** 2, axis=-1)

    mixed = group_mse(mix)
    noise = 1e-24 * (np.max(np.abs(w)) + 1) ** 2  # candidates exact up to rounding tie at random
    for cand in MIXTURES[mix]:
        assert (mixed <= group_mse(cand) * (1 + 1e-9) + noise).all()


def test_ternary_absmean_matches_bitnet_b158() -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 256)) * 0.02
    q = quantize(w, "ternary", group_size=None, scale_rule="absmean")
    scale = np.mean(np.abs(w), axis=1, keepdims=True)  # BitNet b1.58: gamma = mean|W|
    w_q = np.clip(np.round(w / scale), -1, 1)
    np.testing.assert_array_equal(get_format("ternary").decode(q.codes), w_q)
    np.testing.assert_allclose(q.scales[:, 0], scale[:, 0], rtol=1e-7)
    np.testing.assert_allclose(q.dequantize(), w_q * scale, rtol=1e-6)


def test_mxfp4_block_worked_by_hand() -> None:
    # max|x| = 30: floor(log2 30) = 4, emax(E2M1) = floor(log2 6) = 2, so X = 2 and the
    # scale is 2^2 = 4. Elements x/4 round to E2M1 {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to
    # the even code, saturating at 6; E2M1 code = sign<<3 | index in that list.
    x = np.zeros(32)
    x[:11] = [20, -20, 1, 2, 3, 6, 7, 0, -0.5, 26, 30]
    # x/4:    5 (tie 4|6 -> 4, code 6), -5 -> -4 (code 14), .25 (tie 0|.5 -> 0, code 0),
    #         .5 (1), .75 (tie .5|1 -> 1, code 2), 1.5 (3), 1.75 (tie 1.5|2 -> 2, code 4),
    #         0 (0), -.125 -> -0 (code 8), 6.5 -> 6 (7), 7.5 saturates to 6 (7).
    expected = np.zeros(32, dtype=np.uint8)
    expected[:11] = [6, 14, 0, 1, 2, 3, 4, 0, 8, 7, 7]
    q = quantize(x, "mxfp4")
    assert q.group_size == 32 and q.formats == ("fp4_e2m1",)
    assert np.log2(q.scales[0, 0]) == 2.0
    np.testing.assert_array_equal(q.codes, expected)
    deq = q.dequantize()
    assert deq[0] == 16 and deq[10] == 24 and deq[6] == 8


def test_mx_forces_blocks_of_32_and_power_of_two_scales() -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 128)) * 3
    for name in ["mxfp6_e2m3", "mxfp6_e3m2", "mxfp8_e4m3", "mxfp8_e5m2", "mxint8"]:
        q = quantize(w, name, group_size=128)
        assert q.scales.shape == (4, 4)
        e = np.log2(q.scales)
        assert (e == np.round(e)).all()
        rel = np.max(np.abs(q.dequantize() - w)) / np.max(np.abs(w))
        assert rel < 0.2, name
    q = quantize(w, "mxint8")  # INT8 elements are k/64: block absmax in [2^X, 2^(X+1)) -> codes 64..127
    assert np.max(np.abs(get_format("int8_sym").decode(q.codes)).reshape(4, 4, 32), axis=-1).min() >= 64


def test_second_level_int8_scales_reconstruct_within_bound() -> None:
    rng = np.random.default_rng(6)
    w = rng.standard_normal((16, 512)) * rng.uniform(0.1, 3, size=(16, 1))
    q = quantize(w, "bitmod4", scale_bits=8)
    np.testing.assert_allclose(q.channel_scales, q.scales.max(axis=1) / 255, rtol=1e-6)
    eff = q.effective_scales()
    assert (np.abs(eff - q.scales) <= q.channel_scales[:, None] / 2 * (1 + 1e-6)).all()
    hs = max(half_step(n) for n in q.formats)
    bound = hs * q.scales[:, :, None].astype(np.float64) + 16 * q.channel_scales[:, None, None] / 2
    err = np.abs(q.dequantize().astype(np.float64) - w).reshape(16, 4, 128)
    assert (err <= bound * (1 + 1e-6) + _f32_tol(w)).all()


def test_clip_search_never_worse_and_axis_and_granularity() -> None:
    rng = np.random.default_rng(7)
    w = rng.standard_normal((8, 256))
    w[0, 3] = 40.0  # an outlier that clipping trades off
    plain = np.mean((quantize(w, "int4_sym").dequantize() - w) ** 2)
    clipped = np.mean((quantize(w, "int4_sym", clip_search=True).dequantize() - w) ** 2)
    assert clipped <= plain
    a = quantize(w.T, "int4_sym", axis=0)
    b = quantize(w, "int4_sym")
    np.testing.assert_array_equal(a.codes, b.codes.T)
    np.testing.assert_array_equal(a.dequantize(), b.dequantize().T)
    t = quantize(w, "int4_sym", granularity="tensor")
    assert t.scales.shape == (1, 1) and t.scales[0, 0] == np.float32(40.0 / 7)
    c = quantize(w, "int4_sym", granularity="channel")
    assert c.scales.shape == (8, 1) and c.group_size is None


def test_all_zero_groups_get_scale_one_and_dequantise_to_zero() -> None:
    w = np.zeros((2, 256))
    w[1, 200] = 1.0
    q = quantize(w, "bitmod4")
    assert q.scales[0, 0] == 1 and q.scales[0, 1] == 1 and q.scales[1, 0] == 1
    np.testing.assert_array_equal(q.dequantize(), w)
    assert (quantize(np.zeros(64), "int4", asymmetric=True, group_size=32).dequantize() == 0).all()
    # the scale 3/15 is stored as float32, so the value is -3 up to float32 rounding
    constant = quantize(np.full(64, -3.0), "int4", asymmetric=True, group_size=32).dequantize()
    np.testing.assert_array_equal(constant.astype(np.float32), np.full(64, -3.0, dtype=np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_rejected_naming_the_tensor(bad: float) -> None:
    w = np.ones((2, 128))
    w[1, 5] = bad
    with pytest.raises(QuantizationError, match="layers.0.q_proj"):
        quantize(w, "int4_sym", where="layers.0.q_proj")


@pytest.mark.parametrize(("scheme", "options"), [
    ("bitmod4", {}), ("int4_sym+fp4_e2m1+nf4", {"clip_search": True}), ("int4_sym", {}), ("mxfp4", {}),
    ("ternary", {}),
])
def test_importance_of_ones_gives_the_same_spec(scheme: str, options: dict) -> None:
    w = np.random.default_rng(4).standard_t(3, (16, 256))
    plain = quantize(w, scheme, group_size=64, **options)
    assert quantize(w, scheme, group_size=64, importance=np.ones(256), **options) == plain


def test_importance_weighs_the_mixture_search() -> None:
    rng = np.random.default_rng(8)
    w = rng.standard_t(3, (32, 128))
    importance = rng.uniform(0, 2, (1, 128))
    spec = quantize(w, "bitmod4", group_size=32, importance=importance)
    weighted = np.broadcast_to(importance, w.shape).reshape(32, 4, 32)
    errors = []
    for name in MIXTURES["bitmod4"]:  # each candidate alone: the same per-group scales
        alone = quantize(w, name, group_size=32).dequantize() - w
        errors.append(np.sum(weighted * np.square(alone).reshape(32, 4, 32), axis=2))
    np.testing.assert_array_equal(spec.format_ids, np.argmin(np.stack(errors), axis=0))
    assert not np.array_equal(spec.format_ids, quantize(w, "bitmod4", group_size=32).format_ids)


def test_joined_mixture_names() -> None:
    assert mixture_name(MIXTURES["bitmod4"]) == "bitmod4"  # the named mixture when the members match it
    assert mixture_name(("int4_sym", "nf4")) == "int4_sym+nf4" and mixture_name(("nf4",)) == "nf4"
    assert resolve_scheme("int4_sym+nf4").formats == ("int4_sym", "nf4")
    with pytest.raises(QuantizationError, match="lists a format twice"):
        resolve_scheme("nf4+nf4")
    with pytest.raises(UnknownFormatError, match="unknown element format 'bitmod4'"):
        resolve_scheme("int4_sym+bitmod4")  # members are element formats, not mixtures


def test_error_paths() -> None:
    w = np.ones((2, 128))
    with pytest.raises(QuantizationError, match=r"group size 100 does not divide axis length 128"):
        quantize(w, "int4_sym", group_size=100)
    with pytest.raises(UnknownFormatError):
        quantize(w, "int17")
    with pytest.raises(QuantizationError, match="granularity"):
        quantize(w, "int4_sym", granularity="row")
    with pytest.raises(QuantizationError, match="scale_rule"):
        quantize(w, "int4_sym", scale_rule="minmax")
    with pytest.raises(QuantizationError, match="asymmetric"):
        quantize(w, "fp4_e2m1", asymmetric=True)
    with pytest.raises(QuantizationError, match="scale_bits"):
        quantize(w, "int4_sym", scale_bits=0)
    with pytest.raises(QuantizationError, match="axis"):
        quantize(w, "int4_sym", axis=2)
    with pytest.raises(QuantizationError, match="empty"):
        quantize(np.zeros((0, 128)), "int4_sym")
    with pytest.raises(QuantizationError, match=r"importance of shape \[3\] does not broadcast to the tensor's"):
        quantize(w, "int4_sym", importance=np.ones(3))
    with pytest.raises(QuantizationError, match="finite and non-negative"):
        quantize(w, "bitmod4", importance=-np.ones(128))
    with pytest.raises(QuantizationError, match="asymmetric and OliVe quantisation have none"):
        quantize(w, "int4", asymmetric=True, importance=np.ones(128))
    assert issubclass(QuantizationError, BitsmithError) and issubclass(QuantizationError, ValueError)
    for exc in (QuantizationError,):
        try:
            quantize(w, "int4_sym", group_size=100)
        except exc as e:
            assert "\n" not in str(e)
