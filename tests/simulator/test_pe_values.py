"""PE values: each model's own arithmetic (terms, bit-planes, table lookups, brick
products) against activations times `QuantSpec.dequantize()`.

Integer paths are compared exactly: integer activations, codes chosen directly and
power-of-two scales (pe_operands.py) keep every float64 sum exact. Float paths
(quantised real weights, FP16 activations) differ from the float64 reference only
in summation order, so they are held to the usual bound for two orders of a K-term
sum: |out - ref| <= 2 (K + 2) u sum_k |x_k w_k|, u = 2^-53 (plus a few roundings
in the scale products, inside the +2).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pe_operands import reference, spec_from_codes

from bitsmith.ir.formats.decompose import bitmod_fp4_terms
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.formats.registry import MIXTURES, get_format
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.pe import LUTPE, pe_model
from bitsmith.simulator.pe.bitmod_terms import code_terms
from bitsmith.simulator.pe.operands import GroupedWeights, IntegerWeights
from bitsmith.simulator.pe.serial_integer import signed_digits
from bitsmith.targets import load_target, target_from_dict

U = 2.0**-53

# Weight formats each PE kind takes, and a target with that kind.
KIND_CASES = {
    "bitmod": [("int6",), ("int8",), ("int3",), ("int4_sym",), ("ternary",), ("fp4_e2m1",), MIXTURES["bitmod4"],
               MIXTURES["bitmod3"]],
    "lut_tensor_core": [("int2",), ("int3",), ("int4",), ("int4_sym",), ("ternary",)],
    "fp16_mac": [("int8",), ("nf4",), ("fp8_e4m3",), MIXTURES["ant4"]],
    "stripes": [("int8",), ("int2",), ("ternary",)],
    "loom": [("int5",), ("int8",), ("int3",)],
    "bitfusion": [("int8",), ("int4",), ("int2",)],
}
# Kinds whose datapath walks activation bits take integer activations only.
INTEGER_ACTIVATIONS = {"stripes", "loom", "bitfusion"}
CASES = [(name, formats) for name, cases in KIND_CASES.items() for formats in cases]


def activations(rng: np.random.Generator, name: str, m: int, k: int) -> np.ndarray:
    """Integer-valued activations; float16 where the PE takes FP16 activations."""
    x = rng.integers(-100, 100, size=(m, k))
    return x if name in INTEGER_ACTIVATIONS else x.astype(np.float16)


# --- exact integer paths -------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(CASES), m=st.integers(1, 4), n=st.integers(1, 5), groups=st.integers(1, 3),
       group_steps=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_compute_equals_reference_exactly(case: tuple[str, tuple[str, ...]], m: int, n: int, groups: int,
                                          group_steps: int, seed: int) -> None:
    name, formats = case
    rng = np.random.default_rng(seed)
    pe = pe_model(load_target(name))
    group = 4 * group_steps  # a multiple of every dot-product width and table group here
    spec = spec_from_codes(rng, formats, n, groups * group, group)
    x = activations(rng, name, m, groups * group)
    assert np.array_equal(pe.compute(x, spec), reference(x, spec))


@pytest.mark.parametrize("formats", [("int6",), ("int4",), MIXTURES["bitmod4"]])
def test_bitmod_second_level_scale_codes_exact(formats: tuple[str, ...]) -> None:
    # The dequant unit's shift-add of an 8-bit scale code, then the row's float scale.
    rng = np.random.default_rng(1)
    spec = spec_from_codes(rng, formats, 6, 256, 128, scale_bits=8)
    x = activations(rng, "bitmod", 3, 256)
    assert np.array_equal(pe_model(load_target("bitmod")).compute(x, spec), reference(x, spec))


@pytest.mark.parametrize("name", ["lut_tensor_core", "loom", "bitfusion", "stripes"])
def test_zero_points_exact(name: str) -> None:
    # Unsigned codes with a zero point: LUT folds it into the offset, the others
    # subtract it before splitting into digits.
    rng = np.random.default_rng(2)
    spec = spec_from_codes(rng, ("uint3",), 4, 64, 16, zero_points=True)
    x = activations(rng, name, 2, 64)
    assert np.array_equal(pe_model(load_target(name)).compute(x, spec), reference(x, spec))


@pytest.mark.parametrize("name", ["fp16_mac", "lut_tensor_core", "stripes", "loom", "bitfusion"])
def test_plain_integer_weights_exact(name: str) -> None:
    # Integer arrays (Stripes' 16-bit weights have no 8-bit format); K = 10 is not a
    # multiple of the LUT group, so its last table is padded with zero activations.
    rng = np.random.default_rng(3)
    bound = {"lut_tensor_core": 8, "bitfusion": 128}.get(name, 1 << 15)
    w = rng.integers(-bound, bound, size=(5, 10))
    x = rng.integers(-100, 100, size=(3, 10))
    out = pe_model(load_target(name)).compute(x, w)
    assert np.array_equal(out, x @ w.T)


# --- float paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scheme", "options"), [
    ("bitmod", "int6", {}), ("bitmod", "int8", {"scale_bits": 8}), ("bitmod", "bitmod4", {}),
    ("bitmod", "bitmod3", {"scale_bits": 8}), ("bitmod", "fp4_e2m1", {}),
    ("lut_tensor_core", "int2", {}), ("lut_tensor_core", "int4", {"asymmetric": True}),
    ("lut_tensor_core", "int3", {"granularity": "channel", "group_size": None}),
    ("fp16_mac", "ant4", {"granularity": "channel", "group_size": None}),
    ("fp16_mac", "olive4", {"granularity": "channel", "group_size": None}),
])
def test_quantised_weights_within_float_bound(name: str, scheme: str, options: dict[str, object]) -> None:
    rng = np.random.default_rng(4)
    k = 256
    spec = quantize(rng.normal(size=(16, k)), scheme, **({"group_size": 128} | options))
    x = rng.normal(size=(4, k)).astype(np.float16)
    out = pe_model(load_target(name)).compute(x, spec)
    ref = reference(x, spec)
    bound = 2 * (k + 2) * U * (np.abs(x.astype(np.float64)) @ np.abs(spec.dequantize()).T)
    assert np.all(np.abs(out - ref) <= bound)


# --- decompositions reconstruct exactly ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["int6", "int8", "int3", "int4_sym", "ternary", "fp4_e2m1", "bitmod_fp3",
                                 "bitmod_fp4", *MIXTURES["bitmod4"], *MIXTURES["bitmod3"]])
def test_bitmod_terms_reconstruct_every_code(fmt: str) -> None:
    # Every code's terms add back to its value, in at most ceil(bits/2) terms, with
    # the datapath's 2-bit exponents.
    format_ = get_format(fmt)
    terms = code_terms(format_)
    assert np.array_equal(terms.values(), format_.values)
    assert terms.n_terms <= -(-format_.bits // 2)
    assert terms.exponent.max() <= 3


def test_bitmod_grid_terms_are_the_e2m1_decoder_terms() -> None:
    # Regular FP4 grid codes decode exactly as decompose.bitmod_fp4_terms does (grid
    # units = E2M1 units x 2); only the special -0 code (8) is split here.
    grid, e2m1 = code_terms(get_format("bitmod_fp4_ea_pos")), bitmod_fp4_terms(np.arange(16))
    regular = np.arange(16) != 8
    for field in ("sign", "exponent", "mantissa"):
        assert np.array_equal(getattr(grid, field)[:, regular], getattr(e2m1, field)[:, regular])
    # EA_POS special value +16 = 2^3 + 2^3: two terms of exponent 3.
    assert grid.exponent[:, 8].tolist() == [3, 3] and grid.mantissa[:, 8].tolist() == [1, 1]


@pytest.mark.parametrize("formats", [("int6",), MIXTURES["bitmod4"], MIXTURES["bitmod3"]])
def test_bitmod_tile_decode_reconstructs_weights(formats: tuple[str, ...]) -> None:
    rng = np.random.default_rng(5)
    spec = spec_from_codes(rng, formats, 4, 256, 128)
    grouped = GroupedWeights.from_spec(spec, "bit_serial")
    values = spec.dequantize().reshape(4, 2, 128) / grouped.scales[:, :, np.newaxis]
    assert np.array_equal(pe_model(load_target("bitmod")).decode(grouped).values(), values)


@pytest.mark.parametrize(("fmt", "zero_points"), [("int4", False), ("int2", False), ("ternary", False),
                                                  ("uint4", True)])
def test_lut_binary_coding_reconstructs_weights(fmt: str, zero_points: bool) -> None:
    rng = np.random.default_rng(6)
    spec = spec_from_codes(rng, (fmt,), 4, 64, 16, zero_points=zero_points)
    integer = IntegerWeights.from_operand(spec, "lut")
    coded = pe_model(load_target("lut_tensor_core")).binary_code(integer)
    assert np.array_equal(coded.values(), integer.values())


def test_lut_symmetric_half_table_reads_like_the_full_table() -> None:
    # T[i] = sum_j (2 bit_j(i) - 1) x_j for every 4-bit index, from the 8 stored
    # entries (top index bit = sign flip) and from a 16-entry table.
    rng = np.random.default_rng(7)
    x = rng.integers(-50, 50, size=(2, 3, 4)).astype(np.float64)  # [M, tables, g]
    index = rng.integers(0, 16, size=(5, 3))  # [N, tables]
    signs = 2 * ((index[..., np.newaxis] >> np.arange(4)) & 1) - 1
    expected = np.einsum("mkj,nkj->mnk", x, signs)
    half = pe_model(load_target("lut_tensor_core"))
    full_target = target_from_dict({"name": "full_lut", "extends": "lut_tensor_core",
                                    "pe_array": {"lut": {"symmetric": False}}})
    full = pe_model(full_target)
    assert half.tables(x).shape[-1] == 8 and full.tables(x).shape[-1] == 16
    assert np.array_equal(half.lookup(half.tables(x), index), expected)
    assert np.array_equal(full.lookup(full.tables(x), index), expected)


def test_lut_private_and_shared_tables_compute_the_same() -> None:
    rng = np.random.default_rng(8)
    spec = spec_from_codes(rng, ("int3",), 4, 32, 8)
    x = activations(rng, "lut_tensor_core", 2, 32)
    private = LUTPE(load_target("lut_tensor_core").pe_array, shared_precompute=False)
    assert np.array_equal(private.compute(x, spec), reference(x, spec))


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-(2**15), 2**15 - 1), min_size=1, max_size=12), digit_bits=st.integers(1, 4))
def test_signed_digits_reconstruct(values: list[int], digit_bits: int) -> None:
    array = np.array(values, dtype=np.int64)
    digits = signed_digits(array, digit_bits)
    place = np.int64(1) << (digit_bits * np.arange(len(digits)))
    assert np.array_equal((digits * place[:, np.newaxis]).sum(axis=0), array)
    assert digits[:-1].min(initial=0) >= 0 and digits[:-1].max(initial=0) < 1 << digit_bits


# --- what each kind refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scheme", "options", "message"), [
    ("bitmod", "nf4", {}, r"pe 'bit_serial' cannot take nf4 weights: the decoder has terms for"),
    ("bitmod", "int4", {"asymmetric": True}, r"pe 'bit_serial' cannot take uint4 weights: the decoder has terms"),
    ("bitmod", "olive4", {"granularity": "channel", "group_size": None},
     r"pe 'bit_serial' cannot take olive4 weights: .*outlier side table"),
    ("lut_tensor_core", "bitmod4", {}, r"pe 'lut' cannot take bitmod4 weights \(bitmod_fp4_er_pos, .*one integer"),
    ("lut_tensor_core", "int8", {}, r"pe 'lut' cannot take 8-bit weights: .* at most 4 bits"),
    ("stripes", "fp4_e2m1", {}, r"pe 'bit_serial_act' cannot take fp4_e2m1 weights \(fp4_e2m1\)"),
])
def test_unsupported_formats_name_format_and_kind(name: str, scheme: str, options: dict[str, object],
                                                  message: str) -> None:
    rng = np.random.default_rng(9)
    spec = quantize(rng.normal(size=(4, 128)), scheme, **({"group_size": 64} | options))
    x = activations(rng, name, 2, 128)
    with pytest.raises(SimulationError, match=message):
        pe_model(load_target(name)).compute(x, spec)


def test_other_refusals() -> None:
    rng = np.random.default_rng(10)
    spec = quantize(rng.normal(size=(4, 16)), "int8", group_size=None, granularity="channel")
    with pytest.raises(SimulationError, match=r"pe 'bit_serial_act' cannot take non-integer activations"):
        pe_model(load_target("stripes")).compute(rng.normal(size=(2, 16)), spec)
    with pytest.raises(SimulationError, match=r"pe 'bit_fusion' cannot take 2-bit activations x 16-bit weights"):
        pe_model(load_target("bitfusion")).compute(np.ones((1, 4), dtype=np.int64), np.full((2, 4), 1 << 14))
    with pytest.raises(SimulationError, match=r"pe 'bit_serial' cannot take plain weight arrays"):
        pe_model(load_target("bitmod")).compute(np.ones((1, 4)), np.ones((2, 4), dtype=np.int64))
    with pytest.raises(SimulationError, match=r"weights int8 are shape-only"):
        pe_model(load_target("bitmod")).compute(np.ones((1, 16)), spec.without_data())
    with pytest.raises(SimulationError, match=r"activations must be \[M, 16\] .* got \[1, 8\]"):
        pe_model(load_target("bitmod")).compute(np.ones((1, 8)), spec)
