"""Lookup-grid formats: formats whose values are a published list, not a formula.

Codes are assigned the way the hardware that reads them does: sign-magnitude for
the sign-symmetric grids (code = sign bit | magnitude index, so the "-0" code
exists), index order for NF4. BitMoD's extended grids put their extra "special
value" on exactly that otherwise-redundant -0 code (FACTS §1.1, `decoder.v`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bitsmith.ir.formats.base import Format

# QLoRA's NormalFloat-4 (Dettmers et al. 2023, Appendix E; bitsandbytes' NF4 table).
NF4_VALUES = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)

# Magnitudes of the sign-symmetric grids, in grid units (FACTS §1.1 and §2).
FP3_MAGNITUDES = (0, 1, 2, 4)  # BitMoD FP3 (E2M0-like)
FP4_MAGNITUDES = (0, 1, 2, 3, 4, 6, 8, 12)  # BitMoD FP4 = OCP E2M1 x 2
FLINT4_MAGNITUDES = (0, 1, 2, 3, 4, 6, 8, 16)  # ANT flint4 (x4 of +-{0,.25,.5,.75,1,1.5,2,4})

# BitMoD's special values for the -0 code: extra resolution (ER) or asymmetry (EA).
BITMOD_SPECIAL = {
    3: {"er_pos": 3, "er_neg": -3, "ea_pos": 6, "ea_neg": -6},
    4: {"er_pos": 10, "er_neg": -10, "ea_pos": 16, "ea_neg": -16},
}


def sign_magnitude(name: str, magnitudes: Sequence[float], *, special: float | None = None,
                   description: str = "") -> Format:
    """A signed grid with code = sign bit | index of the magnitude. The -0 code is
    -0.0, or `special` when given (BitMoD), or reserved otherwise."""
    bits = 1 + math.ceil(math.log2(len(magnitudes)))
    if len(magnitudes) != 1 << (bits - 1) or magnitudes[0] != 0:
        raise ValueError(f"{name}: needs a power-of-two count of magnitudes starting at 0")
    half = 1 << (bits - 1)
    table = [float(m) for m in magnitudes] + [-float(m) for m in magnitudes]
    table[half] = -0.0 if special is None else float(special)
    return Format(name, bits, "grid", tuple(table), description=description)


def indexed(name: str, values: Sequence[float], description: str = "") -> Format:
    """A grid whose codes index its (ascending) values: NF4."""
    bits = math.ceil(math.log2(len(values)))
    if len(values) != 1 << bits or list(values) != sorted(values):
        raise ValueError(f"{name}: needs 2^k ascending values")
    return Format(name, bits, "grid", tuple(float(v) for v in values), description=description)


def nf4() -> Format:
    return indexed("nf4", NF4_VALUES, "QLoRA NormalFloat-4: quantiles of N(0,1), scaled to [-1, 1]")


def bitmod_fp(bits: int, variant: str | None = None) -> Format:
    """BitMoD's FP3/FP4 grid, plain (`variant=None`, -0 unused) or extended with a
    special value on the -0 code: `er_pos`, `er_neg`, `ea_pos`, `ea_neg`."""
    magnitudes = {3: FP3_MAGNITUDES, 4: FP4_MAGNITUDES}[bits]
    if variant is None:
        return sign_magnitude(f"bitmod_fp{bits}", magnitudes,
                              description=f"BitMoD FP{bits}: ±{{{', '.join(map(str, magnitudes))}}}")
    special = BITMOD_SPECIAL[bits][variant]
    return sign_magnitude(f"bitmod_fp{bits}_{variant}", magnitudes, special=special,
                          description=f"BitMoD FP{bits} with {special:+d} on the -0 code")


def flint4() -> Format:
    return sign_magnitude("flint4", FLINT4_MAGNITUDES, description="ANT flint4: ±{0,1,2,3,4,6,8,16}")


def bipolar() -> Format:
    """{-1, +1}: one sign bit (code 1 is +1), the binary-coding planes of LUT-GEMM."""
    return Format("bipolar", 1, "grid", (-1.0, 1.0), description="{-1, +1}")


def binary() -> Format:
    """{0, 1}: one bit."""
    return Format("binary", 1, "grid", (0.0, 1.0), signed=False, description="{0, 1}")
