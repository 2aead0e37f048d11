"""OliVe's outlier-victim pair encoding: the abfloat grid against OliVe's published
values, the pairing rule against an independent transcription of OliVe's reference
quantiser, and the in-band (hardware) codes round-tripping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bitsmith.ir.formats import get_format
from bitsmith.ir.formats.outliers import identifier_code, pair_decode, pair_encode
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.schemes import QuantizationError


def test_abfloat4_is_olives_outlier_grid_in_int4_units() -> None:
    # FACTS §2 (ANTQ `outlier_value(exp_bit=2, exp_base=5)` at 4 bits): ±{48, 64, 96, 128, 192, 256, 384}
    # in OliVe's units, where the INT4 grid ±{0..7} is scaled by 32/8 = 4.
    published = np.array([48, 64, 96, 128, 192, 256, 384]) / 4
    grid = get_format("olive_abfloat4").grid
    np.testing.assert_array_equal(grid[grid > 0], published)
    np.testing.assert_array_equal(grid[grid < 0], -published[::-1])


def _olive_reference(w: np.ndarray) -> np.ndarray:
    """OliVe's `_forward` for a per-channel 4-bit weight, written from the reference's
    semantics (ANTQ quant_modules.py) in OliVe's own units: grid = INT4·4 ∪ abfloat,
    nearest value, then `torch.roll`-style victim masks over the flattened tensor."""
    normal = np.arange(-7, 8) * 4.0
    outliers = np.array([48, 64, 96, 128, 192, 256, 384], dtype=float)
    grid = np.sort(np.concatenate([normal, outliers, -outliers]))
    mean, std = w.mean(axis=1), w.std(axis=1, ddof=1)
    alpha = np.maximum(np.abs(mean + 3 * std), np.abs(mean - 3 * std))
    scale = (alpha / 28.0).astype(np.float32).astype(np.float64)[:, None]
    data = w / scale
    quant = grid[np.argmin(np.abs(data[..., None] - grid), axis=-1)].reshape(-1)
    mask = np.abs(quant) > 32
    victim_odd = np.roll(mask, 1)
    victim_odd[::2] = False
    victim_even = np.roll(mask & ~victim_odd, -1)
    victim_even[1::2] = False
    quant = quant * ~(victim_even | victim_odd)
    return quant.reshape(w.shape) * scale


def test_quantised_values_match_olives_reference_quantiser() -> None:
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 64))
    w[rng.random(w.shape) < 0.03] *= 8  # sprinkle outliers, some in the same pair
    w[2, 10], w[2, 11] = 25.0, -30.0  # both of a pair: the even one is kept
    spec = quantize(w, "olive4", group_size=None)
    assert spec.outlier_index.size > 10
    np.testing.assert_allclose(spec.dequantize(), _olive_reference(w), rtol=1e-12, atol=0)
    assert spec.dequantize()[2, 11] == 0 and spec.dequantize()[2, 10] != 0


def test_each_pair_holds_at_most_one_outlier_and_its_victim_is_zero() -> None:
    rng = np.random.default_rng(8)
    w = rng.standard_t(2, size=(32, 128))
    spec = quantize(w, "olive4")
    rows, cols = np.unravel_index(spec.outlier_index, w.shape)
    pairs = set(zip(rows, cols // 2, strict=True))
    assert len(pairs) == spec.outlier_index.size
    partners = spec.dequantize()[rows, cols ^ 1]
    np.testing.assert_array_equal(partners, 0)


@settings(max_examples=40, deadline=None)
@given(w=arrays(np.float64, (4, 32), elements=st.floats(-50, 50, allow_subnormal=False)),
       bits=st.sampled_from([3, 4, 8]))
def test_in_band_pair_codes_round_trip(w: np.ndarray, bits: int) -> None:
    spec = quantize(w, f"olive{bits}", group_size=None)
    stored = pair_encode(spec.codes, spec.axis, spec.outlier_index, spec.outlier_codes, bits)
    marker = identifier_code(bits)
    assert np.count_nonzero(stored == marker) == spec.outlier_index.size  # one identifier per outlier pair
    dense, index, codes = pair_decode(stored, spec.axis, bits)
    np.testing.assert_array_equal(dense, spec.codes)
    np.testing.assert_array_equal(index, spec.outlier_index)
    np.testing.assert_array_equal(codes, spec.outlier_codes)


def test_pairs_follow_the_grouping_axis() -> None:
    rng = np.random.default_rng(9)
    w = rng.standard_normal((64, 6))
    w[10, 3] = 20.0
    spec = quantize(w, "olive4", axis=0, group_size=32)
    assert list(spec.outlier_index) == [10 * 6 + 3]
    assert spec.dequantize()[11, 3] == 0  # its partner along axis 0


def test_odd_axis_length_is_rejected() -> None:
    with pytest.raises(QuantizationError, match="even axis length"):
        quantize(np.ones((4, 33)), "olive4", group_size=None, where="w.odd")
