"""Value grids against their published definitions, written out here independently
of grids.py: NF4 (QLoRA), BitMoD's FP3/FP4 and their ER/EA extensions (FACTS §1.1),
ANT's flint4 (FACTS §2), integers, ternary, bipolar and binary."""

from __future__ import annotations

import numpy as np
import pytest

from bitsmith.ir.formats import MIXTURES, get_format, mixture

# NormalFloat-4: Dettmers et al. 2023, "QLoRA", Appendix E; the same table is
# bitsandbytes' `nf4` lookup (csrc/kernels.cu, dDequantizeNF4).
NF4_PUBLISHED = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]


def pm(*magnitudes: float) -> set[float]:
    return {float(s * m) for m in magnitudes for s in (1, -1)}


# FACTS §1.1 (BitMoD quant_weight.py) and §2 (ANT flint).
FP3 = pm(0, 1, 2, 4)
FP4 = pm(0, 1, 2, 3, 4, 6, 8, 12)
BITMOD = {
    "bitmod_fp3": FP3,
    "bitmod_fp3_er_pos": FP3 | {3.0},
    "bitmod_fp3_er_neg": FP3 | {-3.0},
    "bitmod_fp3_ea_pos": FP3 | {6.0},
    "bitmod_fp3_ea_neg": FP3 | {-6.0},
    "bitmod_fp4": FP4,
    "bitmod_fp4_er_pos": FP4 | {10.0},
    "bitmod_fp4_er_neg": FP4 | {-10.0},
    "bitmod_fp4_ea_pos": FP4 | {16.0},
    "bitmod_fp4_ea_neg": FP4 | {-16.0},
    "flint4": pm(0, 1, 2, 3, 4, 6, 8, 16),
}
SPECIAL = {"er_pos": (3, 10), "er_neg": (-3, -10), "ea_pos": (6, 16), "ea_neg": (-6, -16)}


def test_nf4_is_the_qlora_table() -> None:
    fmt = get_format("nf4")
    assert fmt.bits == 4
    np.testing.assert_array_equal(fmt.decode(np.arange(16)), NF4_PUBLISHED)
    np.testing.assert_array_equal(fmt.grid, NF4_PUBLISHED)


@pytest.mark.parametrize("name", list(BITMOD))
def test_bitmod_and_flint_grids_match_facts(name: str) -> None:
    fmt = get_format(name)
    assert set(fmt.grid.tolist()) == BITMOD[name]
    assert len(fmt.grid) == len(BITMOD[name])


@pytest.mark.parametrize("bits", [3, 4])
@pytest.mark.parametrize("variant", list(SPECIAL))
def test_special_value_sits_on_the_minus_zero_code(bits: int, variant: str) -> None:
    """decoder.v: the sign=1, magnitude=0 code (0b1000, or 0b100 at 3 bits) holds it."""
    fmt = get_format(f"bitmod_fp{bits}_{variant}")
    special = SPECIAL[variant][bits - 3]
    minus_zero = 1 << (bits - 1)
    assert fmt.decode(np.array([minus_zero]))[0] == special
    assert fmt.encode(np.array([float(special)]))[0] == minus_zero
    # the code only the special value occupies: -0.0 encodes as +0
    assert fmt.encode(np.array([-0.0]))[0] == 0


@pytest.mark.parametrize("bits", range(2, 9))
def test_integer_grids(bits: int) -> None:
    half = 2 ** (bits - 1)
    np.testing.assert_array_equal(get_format(f"int{bits}").grid, np.arange(-half, half))
    np.testing.assert_array_equal(get_format(f"int{bits}_sym").grid, np.arange(-(half - 1), half))
    np.testing.assert_array_equal(get_format(f"uint{bits}").grid, np.arange(0, 2**bits))
    for name in (f"int{bits}", f"int{bits}_sym", f"uint{bits}"):
        assert get_format(name).bits == bits


@pytest.mark.parametrize("bits", range(2, 9))
def test_signed_integers_are_twos_complement(bits: int) -> None:
    codes = np.arange(2**bits)
    expected = np.where(codes >= 2 ** (bits - 1), codes - 2**bits, codes)
    np.testing.assert_array_equal(get_format(f"int{bits}").decode(codes), expected)


@pytest.mark.parametrize(
    ("name", "grid"),
    [("ternary", [-1, 0, 1]), ("bipolar", [-1, 1]), ("binary", [0, 1])],
)
def test_small_grids(name: str, grid: list[int]) -> None:
    np.testing.assert_array_equal(get_format(name).grid, grid)


@pytest.mark.parametrize("bits", [3, 4])
def test_bitmod_mixtures_are_the_four_er_ea_grids(bits: int) -> None:
    formats = mixture(f"bitmod{bits}")
    assert [f.name for f in formats] == [f"bitmod_fp{bits}_{v}" for v in ("er_pos", "er_neg", "ea_pos", "ea_neg")]
    assert [set(f.grid.tolist()) for f in formats] == [
        BITMOD[f"bitmod_fp{bits}_{v}"] for v in ("er_pos", "er_neg", "ea_pos", "ea_neg")
    ]


def test_every_mixture_resolves() -> None:
    for name, members in MIXTURES.items():
        assert tuple(f.name for f in mixture(name)) == members
