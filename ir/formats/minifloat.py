"""Minifloats ExMy: sign, `exp_bits` exponent bits, `man_bits` mantissa bits.

Three conventions for the top of the range, as the OCP specifications and
`ml_dtypes` use them:
- "ieee": the all-ones exponent holds ±inf (mantissa 0) and NaN (otherwise): E5M2.
- "fn": only the all-ones code (S.1111.111) is NaN, no inf: E4M3FN.
- "none": every code is a number, no inf or NaN: E2M1 (FP4), E2M3/E3M2 (FP6).
Subnormals (exponent field 0) are on by default; without them, exponent 0 codes
are zero. Bias defaults to 2^(exp_bits-1) - 1.
"""

from __future__ import annotations

import math

from bitsmith.ir.formats.base import Format

_OVERFLOW = {"ieee": "inf", "fn": "nan", "none": "saturate"}
_SPECIALS = {"ieee": "IEEE inf and NaN", "fn": "NaN at S.1..1 only, no inf", "none": "no inf or NaN"}


def minifloat(
    exp_bits: int,
    man_bits: int,
    *,
    special: str = "none",
    subnormals: bool = True,
    bias: int | None = None,
    name: str | None = None,
    overflow: str | None = None,
    description: str = "",
) -> Format:
    """The signed ExMy format (1 + exp_bits + man_bits bits)."""
    if special not in _OVERFLOW:
        raise ValueError(f"special must be one of {', '.join(_OVERFLOW)}, got {special!r}")
    bits = 1 + exp_bits + man_bits
    bias = (1 << (exp_bits - 1)) - 1 if bias is None else bias
    top = (1 << exp_bits) - 1
    table: list[float] = []
    nan_code = None
    for code in range(1 << bits):
        sign = -1.0 if code >> (bits - 1) else 1.0
        exponent = (code >> man_bits) & top
        mantissa = code & ((1 << man_bits) - 1)
        if special == "ieee" and exponent == top:
            value = math.copysign(math.inf if mantissa == 0 else math.nan, sign)
        elif special == "fn" and exponent == top and mantissa == (1 << man_bits) - 1:
            value = math.copysign(math.nan, sign)
        elif exponent == 0:
            value = sign * (mantissa / (1 << man_bits)) * 2.0 ** (1 - bias) if subnormals else sign * 0.0
        else:
            value = sign * (1 + mantissa / (1 << man_bits)) * 2.0 ** (exponent - bias)
        table.append(value)
    # The quiet NaN ml_dtypes produces: S.1111.111 (fn), S.11111.10 (ieee, E5M2).
    if special == "fn":
        nan_code = (top << man_bits) | ((1 << man_bits) - 1)
    elif special == "ieee" and man_bits:
        nan_code = (top << man_bits) | (1 << (man_bits - 1))
    finite = [abs(v) for v in table if math.isfinite(v)]
    ulp_at_max = 2.0 ** (math.floor(math.log2(max(finite))) - man_bits)
    return Format(
        name=name or f"fp{bits}_e{exp_bits}m{man_bits}",
        bits=bits,
        family="float",
        table=tuple(table),
        overflow=overflow or _OVERFLOW[special],
        nan_code=nan_code,
        ulp_at_max=ulp_at_max,
        description=description or f"E{exp_bits}M{man_bits} minifloat, bias {bias}, "
        f"{'with' if subnormals else 'without'} subnormals, {_SPECIALS[special]}",
    )


def e8m0() -> Format:
    """E8M0 (OCP MX v1.0 shared scale): 2^(code-127), code 255 is NaN; no sign, no zero."""
    table = tuple(2.0 ** (code - 127) if code < 255 else math.nan for code in range(256))
    return Format("e8m0", 8, "e8m0", table, overflow="nan", nan_code=255, signed=False, ties="up",
                  nonpositive_is_nan=True, ulp_at_max=2.0**127,
                  description="unsigned power of two 2^-127 .. 2^127 (MX block scale)")
