"""The packed weight layout: unpacking inverts packing, and the packed arrays alone
dequantise to exactly what `QuantSpec.dequantize()` gives (float32 rounding of
table and scales only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsmith.backends.tvm.packing import (
    PackingError,
    dequantize_packed,
    pack_weight,
    slice_widths,
    unpack_codes,
)
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.spec import QuantSpec

# float32 table and scale rounding: each weight is off by at most ~2 ulp of float32.
DEQUANT_RTOL = 3e-7


def _assert_dequantizes(spec: QuantSpec, name: str = "w") -> None:
    packed = pack_weight(spec, name)
    expected = spec.dequantize()
    if spec.axis == 0:
        expected = expected.T
    got = dequantize_packed(packed)
    np.testing.assert_allclose(got, expected, rtol=DEQUANT_RTOL, atol=1e-30)


@st.composite
def raw_specs(draw: st.DrawFn) -> QuantSpec:
    """A spec with arbitrary codes (every code of the format, reserved ones too)."""
    bits = draw(st.integers(2, 8))
    fmt = draw(st.sampled_from([f"int{bits}", f"int{bits}_sym", f"uint{bits}"]))
    n = draw(st.integers(1, 3))
    per_word = 32 // slice_widths(bits)[-1]
    group = per_word * draw(st.sampled_from([1, 2, 4]))
    k = group * draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return QuantSpec(fmt, (n, k), 1, "group", group, (fmt,),
                     codes=rng.integers(0, 1 << bits, (n, k), dtype=np.uint8),
                     format_ids=np.zeros((n, k // group), np.uint8),
                     scales=rng.uniform(0.01, 2, (n, k // group)).astype(np.float32))


def _canonical(spec: QuantSpec) -> np.ndarray:
    fmt = get_format(spec.formats[0])
    codes = spec.codes.copy()
    for code in fmt.reserved:
        codes[codes == code] = code + 1  # int_sym: -2^(b-1) is stored as -(2^(b-1)-1)
    return codes


@settings(max_examples=60, deadline=None)
@given(raw_specs())
def test_unpack_inverts_pack(spec: QuantSpec) -> None:
    packed = pack_weight(spec, "w")
    np.testing.assert_array_equal(unpack_codes(packed), _canonical(spec))
    _assert_dequantizes(spec)


@pytest.mark.parametrize("bits, widths", [(2, (2,)), (3, (2, 1)), (4, (4,)), (5, (4, 1)), (6, (4, 2)),
                                          (7, (4, 2, 1)), (8, (8,))])
def test_slices_are_the_binary_digits(bits: int, widths: tuple[int, ...]) -> None:
    assert slice_widths(bits) == widths


def test_bit_order_matches_the_diagram() -> None:
    """c = 4, 16 words per block: element k = 16*j + w sits in word w, bits 4j..4j+3."""
    codes = np.zeros((1, 128), np.uint8)
    codes[0, 16 * 3 + 5] = 0b0110  # j = 3, w = 5
    spec = QuantSpec("uint4", (1, 128), 1, "group", 128, ("uint4",), codes=codes,
                     format_ids=np.zeros((1, 1), np.uint8), scales=np.ones((1, 1), np.float32))
    (words,) = pack_weight(spec, "w").slices
    assert words.shape == (1, 16)
    assert words[0, 5] == 0b0110 << 12 and np.count_nonzero(words) == 1


@pytest.mark.parametrize("scheme, options", [
    ("int8", {}), ("int4_sym", {}), ("int3_sym", {}), ("int2_sym", {}), ("ternary", {}),
    ("int4", {"asymmetric": True}), ("fp4_e2m1", {}), ("nf4", {}), ("fp6_e3m2", {}), ("fp8_e4m3", {}),
    ("bitmod4", {}), ("bitmod3", {}), ("mxfp4", {}), ("int4_sym", {"scale_bits": 4}),
    ("int4_sym", {"granularity": "channel"}), ("int4_sym", {"granularity": "tensor"}),
])
def test_quantised_weights_dequantize_exactly(scheme: str, options: dict) -> None:
    w = np.random.default_rng(0).standard_normal((8, 256)).astype(np.float32)
    _assert_dequantizes(quantize(w, scheme, group_size=64, **options))


def test_matmul_weight_with_groups_along_axis_0() -> None:
    w = np.random.default_rng(1).standard_normal((128, 6)).astype(np.float32)  # [K, N]
    _assert_dequantizes(quantize(w, "nf4", group_size=32, axis=0))


def test_channel_granularity_pads_k() -> None:
    """llama-tiny's down_proj has K = 172: one group per row, padded to 176."""
    w = np.random.default_rng(2).standard_normal((4, 172)).astype(np.float32)
    spec = quantize(w, "int4_sym", granularity="channel")
    packed = pack_weight(spec, "down_proj")
    assert packed.k_padded == 176 and packed.group == 176
    _assert_dequantizes(spec)


@pytest.mark.parametrize("scheme, options, message", [
    ("int4_sym", {"group_size": 43}, "weight down_proj: group size 43 is not a multiple of 8 elements"),
    ("olive4", {"group_size": 4}, "weight down_proj: olive4 has an outlier side-table"),
])
def test_bad_weights_are_one_line_errors(scheme: str, options: dict, message: str) -> None:
    w = np.random.default_rng(3).standard_normal((4, 172)).astype(np.float32)
    with pytest.raises(PackingError, match=message) as error:
        pack_weight(quantize(w, scheme, **options), "down_proj")
    assert "\n" not in str(error.value)
