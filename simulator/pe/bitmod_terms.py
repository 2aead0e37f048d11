"""BitMoD's decoder (`serial_reader`, FACTS §1.2): every weight code as a few terms.

A term is (-1)^sign * mantissa * 2^exponent at a bit-significance `w_sig` that the
group accumulator shifts by. The decoder has one path per datatype family:

- signed INT-k: radix-4 Booth digits, ceil(k/2) terms at significance 0, 2, 4, ...
  (`booth_serial_terms`; INT8 -> 4 terms, INT6 -> 3);
- FP4 E2M1 and BitMoD's FP3/FP4 grids: the `fpcvt` + `LOD4` split into 2 terms
  (`bitmod_fp4_terms`). A BitMoD grid value is its E2M1-style magnitude in grid
  units (the E2M1 grid x 2, FACTS §1.1), so its regular codes decode as the E2M1
  code of the same magnitude with unit 1. The special value on the -0 code that is
  not an E2M1 magnitude (FP4 ER +-10, EA +-16) splits into its leading power of
  two, at most 8, and the rest (10 = 8 + 2, 16 = 8 + 8), each decoded as the
  leading term of its E2M1 code: two terms with 2-bit exponents, as every other
  code. (FACTS does not say how decoder.v routes the special value past LOD4;
  this split is the one that fits the 2-term, 2-bit-exponent datapath.)

Terms are tabulated once per format over all its codes, so decoding a weight tile
is a gather.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.decompose import FPCVT, SerialTerms, bitmod_fp4_terms, booth_serial_terms

E2M1_SIGN = 8  # the sign bit of a 4-bit E2M1 code
LARGEST_TERM = int(FPCVT[(FPCVT & (FPCVT - 1)) == 0].max())  # the largest power of two fpcvt gives: 8


def decodable(fmt: Format) -> bool:
    """Whether the decoder has a path for `fmt`."""
    return (fmt.family == "int" and fmt.signed) or fmt.name == "fp4_e2m1" or fmt.name.startswith("bitmod_fp")


@cache
def code_terms(fmt: Format) -> SerialTerms:
    """Terms `[n_terms, 2^bits]` of every code of `fmt` (`decodable(fmt)` must hold)."""
    if fmt.family == "int":
        return booth_serial_terms(fmt.values, fmt.bits)
    if fmt.name == "fp4_e2m1":
        return bitmod_fp4_terms(np.arange(1 << fmt.bits))
    return _grid_terms(fmt.values)


def _e2m1_code(magnitude: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """The E2M1 code of magnitudes in grid units (which must be fpcvt values)."""
    return np.searchsorted(FPCVT, magnitude) | np.where(negative, E2M1_SIGN, 0)


def _grid_terms(values: np.ndarray) -> SerialTerms:
    magnitude = np.abs(values).astype(np.int64)
    negative = values < 0
    regular = np.isin(magnitude, FPCVT)
    terms = bitmod_fp4_terms(_e2m1_code(np.where(regular, magnitude, 0), negative))
    head = np.minimum(LARGEST_TERM, 1 << (np.frexp(np.maximum(magnitude, 1))[1] - 1))
    tail = magnitude - head
    if not np.all(regular | (np.isin(head, FPCVT) & np.isin(tail, FPCVT) & ((tail & (tail - 1)) == 0))):
        raise ValueError(f"grid values {sorted(set(values[~regular].tolist()))} do not split into two terms")
    split = [bitmod_fp4_terms(_e2m1_code(np.where(regular, 0, part), negative)) for part in (head, tail)]

    def pick(field: str) -> np.ndarray:
        special = np.stack([getattr(part, field)[0] for part in split])
        return np.where(regular, getattr(terms, field), special).astype(np.uint8)

    return SerialTerms(pick("sign"), pick("exponent"), pick("mantissa"), terms.significance, unit=1.0)


@dataclass(frozen=True, eq=False)
class TileTerms:
    """A weight tile `[N, G, L]` decoded: term t of each weight is `term_values[t]`
    ((-1)^sign * mantissa * 2^exponent * unit) shifted left by `significance[t]`
    (per row and group: every lane of a group shares its format, so the
    accumulator applies one shift per step)."""

    term_values: np.ndarray  # [T, N, G, L] float64
    significance: np.ndarray  # [T, N, G] int64

    @property
    def n_terms(self) -> int:
        return self.term_values.shape[0]

    def values(self) -> np.ndarray:
        """The weights (float64, `[N, G, L]`) the terms add up to."""
        return (self.term_values * np.ldexp(1.0, self.significance)[..., np.newaxis]).sum(axis=0)


def decode_tile(formats: tuple[Format, ...], format_ids: np.ndarray, codes: np.ndarray, n_terms: int) -> TileTerms:
    """Terms of codes `[N, G, L]` whose groups use `formats[format_ids[n, g]]`,
    padded with zero terms to `n_terms` per weight."""
    values = np.zeros((n_terms, len(formats), 256), dtype=np.float64)
    significance = np.zeros((n_terms, len(formats)), dtype=np.int64)
    for f, fmt in enumerate(formats):
        terms = code_terms(fmt)
        used = terms.n_terms
        signed = np.where(terms.sign == 1, -1.0, 1.0) * terms.mantissa
        values[:used, f, : signed.shape[1]] = np.ldexp(signed, terms.exponent.astype(np.int64)) * terms.unit
        significance[:used, f] = terms.significance
    ids = format_ids[:, :, np.newaxis]
    return TileTerms(values[:, ids, codes], significance[:, format_ids])
