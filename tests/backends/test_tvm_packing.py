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
    slice_order,
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
def raw_specs(draw: st.DrawFn, *, integer_layout: bool = False) -> QuantSpec:
    """A spec with arbitrary codes (every code of the format, reserved ones too);
    for the integer layouts, 16 rows and groups of a multiple of 32."""
    bits = draw(st.integers(2, 8))
    fmt = draw(st.sampled_from([f"int{bits}", f"int{bits}_sym", f"uint{bits}"]))
    n = 16 if integer_layout else draw(st.integers(1, 3))
    per_word = 32 if integer_layout else 32 // slice_widths(bits)[-1]
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


@settings(max_examples=40, deadline=None)
@given(raw_specs(integer_layout=True), st.sampled_from(["vnni", "lut"]))
def test_integer_layouts_unpack_to_the_same_codes(spec: QuantSpec, layout: str) -> None:
    packed = pack_weight(spec, "w", layout=layout)
    np.testing.assert_array_equal(unpack_codes(packed), _canonical(spec))
    np.testing.assert_allclose(dequantize_packed(packed), dequantize_packed(pack_weight(spec, "w")))


@pytest.mark.parametrize("bits, widths", [(1, (1,)), (2, (2,)), (3, (2, 1)), (4, (4,)), (5, (4, 1)), (6, (4, 2)),
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


def _one_code(fmt: str, k: int, n: int = 1, row: int = 0, col: int = 0, code: int = 0b0110) -> QuantSpec:
    codes = np.zeros((n, k), np.uint8)
    codes[row, col] = code
    return QuantSpec(fmt, (n, k), 1, "group", k, (fmt,), codes=codes,
                     format_ids=np.zeros((n, 1), np.uint8), scales=np.ones((n, 1), np.float32))


def test_vnni_bit_order_matches_the_diagram() -> None:
    """c = 4: element k = 6 of row 3 is quad 1, byte 2: the high nibble of byte 2."""
    (words,) = pack_weight(_one_code("uint4", 32, n=16, row=3, col=6), "w", layout="vnni").slices
    assert words.shape == (1, 4, 16)
    assert words[0, 0, 3] == 0b0110 << (8 * 2 + 4) and np.count_nonzero(words) == 1


def test_lut_bit_order_matches_the_diagram() -> None:
    """Element k = 16 + 4*2 + 1 of a word: group 2's index, high nibble, bit 1."""
    planes = pack_weight(_one_code("uint4", 32, n=16, col=25, code=0b0101), "w", layout="lut").slices
    expected_bit = 8 * 2 + 4 + 1
    assert [int(p[0, 0, 0]) for p in planes] == [1 << expected_bit, 0, 1 << expected_bit, 0]


def test_narrow_slices_are_sequential_so_w3_keeps_16_lanes() -> None:
    """W3 at group 128: the 2-bit slice has 8 words per block, the 1-bit slice 4;
    both are stored in order (element r in word r // e) and read as 16 lanes."""
    assert slice_order(2, 128) == slice_order(1, 128) == "sequential"
    assert slice_order(4, 128) == slice_order(8, 128) == "interleaved"
    two, one = pack_weight(_one_code("uint3", 128, col=37, code=0b101), "w").slices
    assert two[0, 37 // 16] == 0b01 << 2 * (37 % 16) and one[0, 1] == 1 << (37 % 32)


def test_unknown_layout_is_one_line_error() -> None:
    with pytest.raises(PackingError, match="weight w: unknown layout 'nibbles'; known: blocked, vnni, lut"):
        pack_weight(_one_code("uint4", 32), "w", layout="nibbles")


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
