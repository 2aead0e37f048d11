"""Bit decompositions of quantised weights, as the simulator's engines consume them.

Each engine sees a weight not as a number but as a short list of simpler pieces:

- bit-serial engines (Stripes/Loom) walk two's-complement bit-planes;
- BitMoD's PE walks "terms" (sign, 2-bit exponent, 1-bit mantissa, bit-significance):
  radix-4 Booth digits for INT, a leading-one split for FP4 (FACTS §1.2);
- LUT engines (T-MAC, LUT Tensor Core, LUT-GEMM) walk ±1 binary-coding planes,
  w = Σ_b α_b·s_b + offset (FACTS §3.1, §5).

Every decomposition here takes integer values (or format codes) as numpy arrays,
puts the decomposition axis first (`out[i, ...]` is piece i of every weight), and
has an exact reconstruction, which the tests use to prove it loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --- helpers -------------------------------------------------------------------------


def _int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive range of a `bits`-bit integer."""
    if bits < 1:
        raise ValueError(f"bits must be positive, got {bits}")
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _as_ints(values: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """`values` as int64, checked to fit a `bits`-bit (un)signed integer."""
    arr = np.asarray(values)
    if arr.size and not np.array_equal(arr, np.rint(arr)):
        raise ValueError("values must be integers")
    arr = arr.astype(np.int64)
    lo, hi = _int_range(bits, signed)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"values must fit a {bits}-bit {kind} integer [{lo}, {hi}]")
    return arr


def _bit_planes(values: np.ndarray, bits: int) -> np.ndarray:
    """Bits 0..bits-1 of the two's-complement pattern of int64 `values`, plane axis first."""
    shifts = np.arange(bits, dtype=np.int64).reshape((bits,) + (1,) * values.ndim)
    return ((values[np.newaxis] >> shifts) & 1).astype(np.uint8)


def _plane_weights(n: int, ndim: int) -> np.ndarray:
    """2^i for planes i = 0..n-1, shaped to broadcast against `[n, ...]` with `ndim` trailing axes."""
    return (np.int64(1) << np.arange(n, dtype=np.int64)).reshape((n,) + (1,) * ndim)


# --- two's-complement bit-planes (bit-serial engines, FACTS §4) ------------------------


def twos_complement_planes(values: np.ndarray, bits: int, *, signed: bool = True) -> np.ndarray:
    """Bit-planes `[bits, ...]` (uint8 0/1) of integer `values`: plane i is bit i.

    Signed: plane bits-1 is the sign bit, weight −2^(bits−1); unsigned: every
    plane i has weight +2^i. Bit-serial engines spend one cycle per plane.
    """
    return _bit_planes(_as_ints(values, bits, signed), bits)


def reconstruct_twos_complement(planes: np.ndarray, *, signed: bool = True) -> np.ndarray:
    """Integer values (int64) of bit-planes from `twos_complement_planes`."""
    planes = np.asarray(planes).astype(np.int64)
    bits = planes.shape[0]
    weights = _plane_weights(bits, planes.ndim - 1)
    if signed:
        weights[-1] = -weights[-1]
    return (planes * weights).sum(axis=0)


# --- radix-4 Booth digits (BitMoD INT terms, FACTS §1.2) --------------------------------


def booth_digit_count(bits: int, *, signed: bool = True) -> int:
    """Radix-4 Booth digits for a `bits`-bit integer: ceil(bits/2) signed
    (INT8 → 4, INT6 → 3, INT4 → 2 as BitMoD's `intbooth`); an unsigned value needs
    one more bit of headroom, so ceil((bits+1)/2)."""
    return (bits + (0 if signed else 1) + 1) // 2


def booth_radix4_terms(values: np.ndarray, bits: int, *, signed: bool = True) -> np.ndarray:
    """Radix-4 Booth digits `[booth_digit_count(bits), ...]` (int8 in {−2,…,2}).

    Digit i = −2·b(2i+1) + b(2i) + b(2i−1), with b(−1) = 0 and the value
    sign-extended to 2·n bits; digit i has significance 4^i (bit-significance
    `w_sig` = 2i, BitMoD `intbooth`, FACTS §1.2), so Σ_i digit_i·4^i == value.
    """
    n = booth_digit_count(bits, signed=signed)
    planes = _bit_planes(_as_ints(values, bits, signed), 2 * n).astype(np.int8)
    below = np.concatenate([np.zeros_like(planes[:1]), planes[1:-1:2]])  # b(2i-1), b(-1) = 0
    return -2 * planes[1::2] + planes[0::2] + below


def reconstruct_booth(digits: np.ndarray) -> np.ndarray:
    """Integer values (int64) of Booth digits: Σ_i digit_i·4^i."""
    digits = np.asarray(digits).astype(np.int64)
    return (digits * _plane_weights(digits.shape[0], digits.ndim - 1) ** 2).sum(axis=0)


# --- BitMoD's unified term representation (FACTS §1.2) ---------------------------------


@dataclass(frozen=True, eq=False)
class SerialTerms:
    """Weights as BitMoD's PE sees them: `n_terms` terms per weight (FACTS §1.2).

    Term t of a weight is (−1)^sign · mantissa · 2^exponent · 2^significance[t] · unit:
    `sign`, `exponent` (2 bits, 0..3) and `mantissa` (1 bit) are `[n_terms, ...]`
    uint8 arrays, one entry per weight; `significance` is `[n_terms]` (the
    accumulator's `w_sig` shift, 0..6); `unit` is the value of the least
    significant position (1 for INT, 0.5 for FP4's one fraction bit).
    """

    sign: np.ndarray
    exponent: np.ndarray
    mantissa: np.ndarray
    significance: np.ndarray
    unit: float

    @property
    def n_terms(self) -> int:
        return self.sign.shape[0]

    def values(self) -> np.ndarray:
        """The weights (float64) the terms add up to."""
        shape = (self.n_terms,) + (1,) * (self.sign.ndim - 1)
        shift = self.exponent.astype(np.int64) + np.asarray(self.significance, dtype=np.int64).reshape(shape)
        terms = np.where(self.sign == 1, -1, 1) * (self.mantissa.astype(np.int64) << shift)
        return terms.sum(axis=0) * self.unit


def booth_serial_terms(values: np.ndarray, bits: int, *, signed: bool = True) -> SerialTerms:
    """Integer weights as BitMoD terms: one per Booth digit (FACTS §1.2, `intbooth`).

    Digit d gives sign = d < 0, mantissa = d ≠ 0, exponent = 1 where |d| = 2
    else 0, and significance 2i for digit i.
    """
    digits = booth_radix4_terms(values, bits, signed=signed)
    mag = np.abs(digits)
    return SerialTerms(
        sign=(digits < 0).astype(np.uint8),
        exponent=(mag == 2).astype(np.uint8),
        mantissa=(mag != 0).astype(np.uint8),
        significance=2 * np.arange(digits.shape[0], dtype=np.int64),
        unit=1.0,
    )


# `fpcvt` (FACTS §1.2, decoder.v): E2M1 magnitude code (the low 3 bits) → 4-bit fixed
# point with one fraction bit, i.e. the magnitude in units of 0.5.
FPCVT = np.array([0, 1, 2, 3, 4, 6, 8, 12], dtype=np.int64)
FP4_TERMS = 2


def bitmod_fp4_terms(codes: np.ndarray) -> SerialTerms:
    """FP4 (E2M1) codes of `get_format("fp4_e2m1")` as exactly 2 BitMoD terms.

    As the decoder does (FACTS §1.2): `fpcvt` turns the magnitude into a 4-bit fixed
    point f ∈ {0,1,2,3,4,6,8,12} (×0.5); `LOD4` finds its leading one, position e0,
    which is term 0 (mantissa 1, exponent e0); the rest f − 2^e0 ∈ {0} ∪ {2^e1} is
    term 1 (mantissa 1, exponent e1, or mantissa 0 when nothing is left). Both terms
    take the code's sign bit and significance 0; a zero weight (±0) has both
    mantissas 0 and sign 0. Every E2M1 magnitude has at most two one-bits, so two
    terms are always enough.
    """
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() > 15 or not np.array_equal(codes, np.rint(codes))):
        raise ValueError("FP4 codes must be integers in [0, 16)")
    codes = codes.astype(np.int64)
    fixed = FPCVT[codes & 7]
    lead = _lod4(fixed)
    rest = fixed - np.where(fixed > 0, 1 << lead, 0)
    second = _lod4(rest)
    sign = ((codes >> 3) & (fixed > 0)).astype(np.uint8)
    return SerialTerms(
        sign=np.stack([sign, sign]),
        exponent=np.stack([lead, second]).astype(np.uint8),
        mantissa=np.stack([fixed > 0, rest > 0]).astype(np.uint8),
        significance=np.zeros(FP4_TERMS, dtype=np.int64),
        unit=0.5,
    )


def _lod4(x: np.ndarray) -> np.ndarray:
    """Leading-one position of 4-bit non-negative ints (0 for 0), as `LOD4` gives it."""
    return np.where(x > 0, np.frexp(x.astype(np.float64))[1] - 1, 0).astype(np.int64)


# --- binary coding (T-MAC / LUT-GEMM, FACTS §3.1 and §5) --------------------------------


def binary_coding_from_uint(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Unsigned `bits`-bit ints as ±1 planes: w = Σ_b 2^(b−1)·s_b + (2^bits − 1)/2.

    s_b = 2·bit_b − 1, so planes are the bit-planes mapped {0,1} → {−1,+1}; this is
    T-MAC's α = [1/2, 1, 2, …] and LUT-GEMM's bias term for uniform INT (FACTS §3.1,
    §5). Returns (planes `[bits, ...]` int8 ±1, alphas `[bits]` float64, offset).
    """
    bit_planes = _bit_planes(_as_ints(values, bits, signed=False), bits).astype(np.int8)
    alphas = np.ldexp(1.0, np.arange(bits) - 1)
    return 2 * bit_planes - 1, alphas, ((1 << bits) - 1) / 2


def binary_coding_from_int(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Signed `bits`-bit ints as ±1 planes: w + 2^(bits−1) is coded as unsigned, so
    the alphas are the same and the offset is (2^bits − 1)/2 − 2^(bits−1) = −1/2
    (T-MAC's "unsigned weight with offset −8" for INT4, FACTS §3.1)."""
    shifted = _as_ints(values, bits, signed=True) + (1 << (bits - 1))
    planes, alphas, offset = binary_coding_from_uint(shifted, bits)
    return planes, alphas, offset - (1 << (bits - 1))


def reconstruct_binary_coding(planes: np.ndarray, alphas: np.ndarray, offset: float | np.ndarray = 0.0) -> np.ndarray:
    """w = Σ_b α_b·s_b + offset (float64).

    `alphas` is `[n_planes]` (one per plane) or `[n_planes, *group_shape]` broadcasting
    against `planes[b]` with the group axis dropped (as `binary_coding_greedy` returns).
    """
    planes = np.asarray(planes, dtype=np.float64)
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim == 1:
        alphas = alphas.reshape((-1,) + (1,) * (planes.ndim - 1))
    elif alphas.ndim == planes.ndim - 1:
        alphas = alphas[..., np.newaxis]
    return (alphas * planes).sum(axis=0) + offset


def binary_coding_greedy(w: np.ndarray, n_planes: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy binary-coding quantisation (BCQ, as LUT-GEMM uses, FACTS §5), one set of
    alphas per group along the last axis of `w` (a row, or a row's group after a reshape).

    For each plane: s = sign(r) (+1 at r = 0), α = mean|r| over the group, r −= α·s,
    starting from r = w. Each step minimises |r − α·s|² for its s, so the error never
    grows with more planes. Greedy is not optimal: it recovers a sum of ±α planes
    exactly only when each plane's sign is balanced against the smaller ones (as for
    a full uniform grid), not for arbitrary planes.
    Returns (planes `[n_planes, *w.shape]` int8 ±1, alphas `[n_planes, *w.shape[:-1]]`).
    """
    residual = np.asarray(w, dtype=np.float64).copy()
    planes = np.empty((n_planes,) + residual.shape, dtype=np.int8)
    alphas = np.empty((n_planes,) + residual.shape[:-1], dtype=np.float64)
    for i in range(n_planes):
        planes[i] = np.where(residual >= 0, 1, -1)
        alphas[i] = np.abs(residual).mean(axis=-1)
        residual -= alphas[i][..., np.newaxis] * planes[i]
    return planes, alphas
