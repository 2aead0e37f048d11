"""Every decomposition in `decompose` reconstructs its input exactly: exhaustively over
all INT2..INT8 values (signed and unsigned) and all 16 FP4 codes, and by hypothesis
over random arrays. Digit and term counts follow BitMoD's decoder (FACTS §1.2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from bitsmith.ir.formats import get_format
from bitsmith.ir.formats.decompose import (
    FPCVT,
    binary_coding_from_int,
    binary_coding_from_uint,
    binary_coding_greedy,
    bitmod_fp4_terms,
    booth_digit_count,
    booth_radix4_terms,
    booth_serial_terms,
    reconstruct_binary_coding,
    reconstruct_booth,
    reconstruct_twos_complement,
    twos_complement_planes,
)

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BITS = range(2, 9)


def all_values(bits: int, signed: bool) -> np.ndarray:
    return np.arange(-(1 << (bits - 1)), 1 << (bits - 1)) if signed else np.arange(1 << bits)


@st.composite
def int_arrays(draw: st.DrawFn) -> tuple[np.ndarray, int, bool]:
    """A random-shaped array of `bits`-bit integers, signed or not."""
    bits = draw(st.integers(2, 8))
    signed = draw(st.booleans())
    values = all_values(bits, signed)
    elements = st.integers(int(values[0]), int(values[-1]))
    return draw(arrays(np.int64, array_shapes(min_dims=0, max_dims=3, max_side=5), elements=elements)), bits, signed


# --- two's complement ------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", BITS)
def test_twos_complement_all_values(bits: int, signed: bool) -> None:
    values = all_values(bits, signed)
    planes = twos_complement_planes(values, bits, signed=signed)
    assert planes.shape == (bits, values.size) and set(np.unique(planes)) <= {0, 1}
    np.testing.assert_array_equal(reconstruct_twos_complement(planes, signed=signed), values)


def test_twos_complement_sign_plane() -> None:
    planes = twos_complement_planes(np.array([-1, -128, 127]), 8)
    np.testing.assert_array_equal(planes[-1], [1, 1, 0])


@PROPERTY
@given(int_arrays())
def test_twos_complement_random(case: tuple[np.ndarray, int, bool]) -> None:
    values, bits, signed = case
    planes = twos_complement_planes(values, bits, signed=signed)
    assert planes.shape == (bits,) + values.shape
    np.testing.assert_array_equal(reconstruct_twos_complement(planes, signed=signed), values)


@pytest.mark.parametrize("values, bits, signed", [([8], 4, True), ([-9], 4, True), ([-1], 4, False), ([16], 4, False),
                                                  ([0.5], 4, True)])
def test_out_of_range_rejected(values: list[float], bits: int, signed: bool) -> None:
    with pytest.raises(ValueError):
        twos_complement_planes(np.array(values), bits, signed=signed)


# --- radix-4 Booth ----------------------------------------------------------------------


@pytest.mark.parametrize("bits, terms", [(8, 4), (6, 3), (4, 2)])
def test_booth_digit_counts_match_bitmod(bits: int, terms: int) -> None:
    """FACTS §1.2: INT8 → 4 terms, INT6 → 3 (and INT4 → 2)."""
    assert booth_digit_count(bits) == terms
    assert booth_radix4_terms(all_values(bits, True), bits).shape[0] == terms


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", BITS)
def test_booth_all_values(bits: int, signed: bool) -> None:
    values = all_values(bits, signed)
    digits = booth_radix4_terms(values, bits, signed=signed)
    assert digits.shape == (booth_digit_count(bits, signed=signed), values.size)
    assert digits.min() >= -2 and digits.max() <= 2
    np.testing.assert_array_equal(reconstruct_booth(digits), values)


def test_booth_known_digits() -> None:
    # -128 = -2·4^3; 127 = 2·64 + 0·16 + 0·4 - 1; -1 = -1 (0, 0, 0, -1 from the top)
    digits = booth_radix4_terms(np.array([-128, 127, -1]), 8)
    np.testing.assert_array_equal(digits[:, 0], [0, 0, 0, -2])
    np.testing.assert_array_equal(digits[:, 1], [-1, 0, 0, 2])
    np.testing.assert_array_equal(digits[:, 2], [-1, 0, 0, 0])


@PROPERTY
@given(int_arrays())
def test_booth_random(case: tuple[np.ndarray, int, bool]) -> None:
    values, bits, signed = case
    digits = booth_radix4_terms(values, bits, signed=signed)
    np.testing.assert_array_equal(reconstruct_booth(digits), values)
    terms = booth_serial_terms(values, bits, signed=signed)
    np.testing.assert_array_equal(terms.values(), values)


@pytest.mark.parametrize("bits", BITS)
def test_booth_serial_terms_shape(bits: int) -> None:
    """Each Booth digit is one BitMoD term: 1-bit mantissa, exponent ≤ 1, w_sig = 2i."""
    terms = booth_serial_terms(all_values(bits, True), bits)
    assert terms.n_terms == booth_digit_count(bits)
    np.testing.assert_array_equal(terms.significance, 2 * np.arange(terms.n_terms))
    assert terms.mantissa.max() <= 1 and terms.exponent.max() <= 1
    np.testing.assert_array_equal(terms.values(), all_values(bits, True))


# --- BitMoD FP4 ----------------------------------------------------------------------------


def test_fpcvt_is_e2m1_in_half_units() -> None:
    fp4 = get_format("fp4_e2m1")
    np.testing.assert_array_equal(FPCVT * 0.5, fp4.values[:8])


def test_fp4_all_codes_two_terms() -> None:
    """FACTS §1.2: FP4 → 2 terms, each (sign, 2-bit exponent, 1-bit mantissa)."""
    fp4 = get_format("fp4_e2m1")
    codes = np.arange(16)
    terms = bitmod_fp4_terms(codes)
    assert terms.n_terms == 2 and terms.sign.shape == (2, 16)
    assert terms.exponent.max() <= 3 and terms.mantissa.max() <= 1
    np.testing.assert_array_equal(terms.values(), fp4.decode(codes) + 0.0)  # -0 -> 0
    # the leading term is the larger one: term 1's exponent is below term 0's
    both = terms.mantissa[1] == 1
    assert np.all(terms.exponent[1][both] < terms.exponent[0][both])


def test_fp4_known_split() -> None:
    """6 = 4 + 2 is 12 = 8 + 4 half-units: exponents 3 and 2; -0.5 is one term."""
    terms = bitmod_fp4_terms(np.array([7, 9]))
    np.testing.assert_array_equal(terms.exponent[:, 0], [3, 2])
    np.testing.assert_array_equal(terms.mantissa[:, 1], [1, 0])
    np.testing.assert_array_equal(terms.sign[:, 1], [1, 1])


@PROPERTY
@given(arrays(np.int64, array_shapes(min_dims=0, max_dims=3, max_side=5), elements=st.integers(0, 15)))
def test_fp4_random(codes: np.ndarray) -> None:
    np.testing.assert_array_equal(bitmod_fp4_terms(codes).values(), get_format("fp4_e2m1").decode(codes) + 0.0)


def test_fp4_bad_codes_rejected() -> None:
    with pytest.raises(ValueError):
        bitmod_fp4_terms(np.array([16]))


# --- binary coding -------------------------------------------------------------------------


@pytest.mark.parametrize("bits", BITS)
def test_binary_coding_uint_all_values(bits: int) -> None:
    values = all_values(bits, False)
    planes, alphas, offset = binary_coding_from_uint(values, bits)
    assert set(np.unique(planes)) == {-1, 1}
    np.testing.assert_array_equal(alphas, 2.0 ** (np.arange(bits) - 1))
    assert offset == ((1 << bits) - 1) / 2
    np.testing.assert_array_equal(reconstruct_binary_coding(planes, alphas, offset), values)


@pytest.mark.parametrize("bits", BITS)
def test_binary_coding_int_all_values(bits: int) -> None:
    values = all_values(bits, True)
    planes, alphas, offset = binary_coding_from_int(values, bits)
    assert offset == -0.5
    np.testing.assert_array_equal(reconstruct_binary_coding(planes, alphas, offset), values)


def test_binary_coding_tmac_int4() -> None:
    """FACTS §3.1: T-MAC's α = [1/2, 1, 2, 4] for 4-bit weights."""
    _, alphas, _ = binary_coding_from_uint(np.array([0]), 4)
    np.testing.assert_array_equal(alphas, [0.5, 1, 2, 4])


@PROPERTY
@given(int_arrays())
def test_binary_coding_random(case: tuple[np.ndarray, int, bool]) -> None:
    values, bits, signed = case
    planes, alphas, offset = (binary_coding_from_int if signed else binary_coding_from_uint)(values, bits)
    assert planes.shape == (bits,) + values.shape
    np.testing.assert_array_equal(reconstruct_binary_coding(planes, alphas, offset), values)


# --- greedy BCQ ----------------------------------------------------------------------------


def bcq_error(w: np.ndarray, n_planes: int) -> float:
    planes, alphas = binary_coding_greedy(w, n_planes)
    return float(((reconstruct_binary_coding(planes, alphas) - w) ** 2).sum())


@PROPERTY
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 16)),
              elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False)))
def test_greedy_error_never_grows(w: np.ndarray) -> None:
    errors = [bcq_error(w, n) for n in range(1, 6)]
    scale = float((w**2).sum()) + 1.0
    assert all(b <= a + 1e-9 * scale for a, b in zip(errors, errors[1:]))
    assert errors[0] <= float((w**2).sum()) + 1e-9 * scale


@PROPERTY
@given(arrays(np.int8, st.tuples(st.integers(1, 4), st.integers(1, 16)), elements=st.sampled_from([-1, 1])),
       st.floats(1e-3, 1e3))
def test_greedy_exact_for_one_plane(signs: np.ndarray, alpha: float) -> None:
    planes, alphas = binary_coding_greedy(alpha * signs, 1)
    np.testing.assert_array_equal(planes[0], signs)
    np.testing.assert_allclose(alphas[0], alpha, rtol=1e-12)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_greedy_exact_for_full_uniform_grid(bits: int) -> None:
    """A row holding every point of Σ_b α_b·s_b (balanced planes) is recovered exactly,
    α included; greedy is not exact for arbitrary ±α planes (see its docstring)."""
    alphas_true = np.array([0.3, 0.7, 1.9, 4.1])[:bits]
    planes, _, _ = binary_coding_from_uint(all_values(bits, False), bits)
    row = reconstruct_binary_coding(planes, alphas_true)[np.newaxis]
    got_planes, got_alphas = binary_coding_greedy(row, bits)
    np.testing.assert_allclose(got_alphas[:, 0], alphas_true[::-1], rtol=1e-12)
    np.testing.assert_allclose(reconstruct_binary_coding(got_planes, got_alphas), row, atol=1e-12)


def test_greedy_shapes() -> None:
    planes, alphas = binary_coding_greedy(np.ones((3, 2, 8)), 2)
    assert planes.shape == (2, 3, 2, 8) and planes.dtype == np.int8 and alphas.shape == (2, 3, 2)
