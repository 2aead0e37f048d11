"""`Format`: one abstraction for every element number format of at most 8 bits.

A format is its code table: the value each of its 2^bits codes stands for (NaN and
±inf where the format has them). Encoding, decoding and rounding are then one
table-driven algorithm for every family (integers, minifloats, NF4, BitMoD and ANT
grids, ternary), so families differ only in how they build the table:

- decode(code) = table[code];
- encode(x) = the code of the nearest finite value; an exact tie between two
  neighbours goes to the code whose least-significant bit is 0 ("ties to even":
  IEEE round-half-to-even for minifloats, numpy's rint for two's-complement
  integers, and the even code for lookup grids);
- zero keeps the input's sign where the format has a -0 code;
- E8M0 is the exception to "ties to even": its ties round up, as `ml_dtypes` does;
- overflow (|x| past the largest finite value by half an ulp there, or more)
  and NaN inputs follow the format's `overflow` and `nan_code`: saturate to the
  largest finite value, or produce inf / NaN when the format has them; these match
  `ml_dtypes` casts for the formats it defines. One known difference: ml_dtypes
  sends E8M0 inputs in (2^-127, 1.5*2^-127) up to 2^-126; here they round to the
  nearer 2^-127.

Values are in the format's own units; a quantiser multiplies them by a scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Format:
    """An element number format, defined by its code table.

    `overflow`: "saturate" (clamp to the largest finite magnitude), "inf" (to ±inf)
    or "nan" (to the NaN code). `nan_code`: the code NaN inputs encode to; None
    when the format cannot represent NaN, and then encoding a NaN is an error.
    """

    name: str
    bits: int
    family: str  # "int" | "float" | "grid" | "e8m0"
    table: tuple[float, ...]  # value of each code, indexed by code
    overflow: str = "saturate"
    nan_code: int | None = None
    description: str = ""
    signed: bool = True
    reserved: tuple[int, ...] = ()  # codes decode gives a value for but encode never produces
    ties: str = "even"  # "even": to the code with LSB 0; "up": to the larger value (E8M0)
    nonpositive_is_nan: bool = False  # E8M0: zero and negatives have no code but NaN
    ulp_at_max: float | None = None  # spacing the format would continue with past its max

    def __post_init__(self) -> None:
        if len(self.table) != 1 << self.bits:
            raise ValueError(f"format {self.name}: table has {len(self.table)} codes, expected {1 << self.bits}")
        if self.overflow not in ("saturate", "inf", "nan"):
            raise ValueError(f"format {self.name}: overflow must be saturate, inf or nan")
        if self.ties not in ("even", "up"):
            raise ValueError(f"format {self.name}: ties must be even or up")

    # --- the table, sorted for encoding -----------------------------------------
    @cached_property
    def values(self) -> np.ndarray:
        """Value of every code (float64), NaN for NaN codes."""
        return np.asarray(self.table, dtype=np.float64)

    @cached_property
    def _finite(self) -> tuple[np.ndarray, np.ndarray]:
        """Finite values sorted ascending (duplicates such as ±0 collapsed to one
        entry), with the code chosen for each."""
        finite = np.setdiff1d(np.flatnonzero(np.isfinite(self.values)), self.reserved)
        order = finite[np.lexsort((finite, self.values[finite]))]
        vals = self.values[order]
        keep = np.concatenate(([True], np.diff(vals) != 0))
        return vals[keep], order[keep]

    @cached_property
    def grid(self) -> np.ndarray:
        """The distinct finite values, ascending: what quantised weights can be."""
        return self._finite[0]

    @property
    def max(self) -> float:
        return float(self.grid[-1])

    @property
    def min(self) -> float:
        return float(self.grid[0])

    @cached_property
    def _signed_zero_codes(self) -> tuple[int | None, int | None]:
        zeros = [c for c, v in enumerate(self.table) if v == 0.0]
        pos = next((c for c in zeros if not np.signbit(self.table[c])), None)
        neg = next((c for c in zeros if np.signbit(self.table[c])), None)
        return pos, neg

    def _overflow_codes(self) -> tuple[int, int]:
        """Codes that +overflow and -overflow map to."""
        vals, codes = self._finite
        if self.overflow == "inf":
            return int(np.flatnonzero(self.values == np.inf)[0]), int(np.flatnonzero(self.values == -np.inf)[0])
        if self.overflow == "nan":
            return self.nan_code, self._negative_nan_code
        return int(codes[-1]), int(codes[0])

    @property
    def _negative_nan_code(self) -> int | None:
        """NaN keeps its sign where the format has a sign bit (as ml_dtypes does)."""
        if self.nan_code is None or not self.signed:
            return self.nan_code
        return self.nan_code | (1 << (self.bits - 1))

    # --- encode / decode -------------------------------------------------------------
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Values (float64) of integer codes."""
        codes = np.asarray(codes)
        if codes.size and (codes.min() < 0 or codes.max() >= len(self.table)):
            raise ValueError(f"format {self.name}: codes must lie in [0, {len(self.table)})")
        return self.values[codes]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes (uint8) of the nearest representable values, by the rules above."""
        x = np.asarray(x, dtype=np.float64)
        vals, codes = self._finite
        upper = np.clip(np.searchsorted(vals, x, side="left"), 1, len(vals) - 1)
        lower = upper - 1
        below, above = vals[lower], vals[upper]
        dist_below, dist_above = x - below, above - x
        pick_upper = dist_above < dist_below
        tie = dist_above == dist_below
        pick_upper |= tie & ((codes[lower] % 2 == 1) if self.ties == "even" else True)
        out = np.where(pick_upper, codes[upper], codes[lower])
        out = np.where(x <= vals[0], codes[0], out)
        out = np.where(x >= vals[-1], codes[-1], out)
        out = self._apply_signed_zero(x, self._apply_overflow(x, out))
        no_value = np.isnan(x) | ((x <= 0) if self.nonpositive_is_nan else False)
        if no_value.any():
            if self.nan_code is None:
                raise ValueError(f"format {self.name} has no NaN: cannot encode NaN")
            out = np.where(no_value, np.where(np.signbit(x), self._negative_nan_code, self.nan_code), out)
        return out.astype(np.uint8 if self.bits <= 8 else np.uint16)

    def _apply_overflow(self, x: np.ndarray, codes: np.ndarray) -> np.ndarray:
        if self.overflow == "saturate":
            return codes
        vals = self.grid
        top_step = self.ulp_at_max or vals[-1] - vals[-2]
        bottom_step = self.ulp_at_max or vals[1] - vals[0]
        # Past the largest value the format rounds as if its grid went on by `step`:
        # the tie at max + step/2 overflows unless the largest magnitude's code is even
        # (E4M3FN: 448 is S.1111.110, so 464 rounds to 448) or ties round up (E8M0).
        pos, neg = self._overflow_codes()
        _, finite_codes = self._finite
        top_tie_overflows = self.ties == "up" or finite_codes[-1] % 2 == 1
        bottom_tie_overflows = self.ties == "up" or finite_codes[0] % 2 == 1
        top, bottom = vals[-1] + top_step / 2, vals[0] - bottom_step / 2
        codes = np.where((x > top) | ((x == top) & top_tie_overflows), pos, codes)
        return np.where((x < bottom) | ((x == bottom) & bottom_tie_overflows), neg, codes)

    def _apply_signed_zero(self, x: np.ndarray, codes: np.ndarray) -> np.ndarray:
        pos, neg = self._signed_zero_codes
        if neg is None or pos is None:
            return codes
        is_zero = self.values[codes] == 0.0
        return np.where(is_zero & np.signbit(x), neg, np.where(is_zero, pos, codes))

    def round(self, x: np.ndarray) -> np.ndarray:
        """x rounded to the format: decode(encode(x))."""
        return self.decode(self.encode(x))

    def __repr__(self) -> str:
        return f"Format({self.name}, {self.bits} bits)"
