"""OliVe's outlier-victim pair encoding (ISCA 2023; FACTS §2, ANTQ
`olive_quantization/antquant/quant_modules.py`).

Normal values use the symmetric INT-b grid ±(2^(b-1)-1), whose unused code
2^(b-1) (`0b1000` at 4 bits) is free. Values are paired along the grouping axis as
(even, odd) neighbours. When one of a pair rounds to an outlier, its partner — the
*victim* — is pruned to zero, and its code slot holds the free code as an
identifier, so the pair still fits 2·b bits and the outlier can use all b bits of
its own slot for a wider-range format ("abfloat": sign, 2 exponent bits, b-3
mantissa bits, exponent bias 5 in OliVe's units). If both of a pair are outliers
the even one is kept, as OliVe's code does.

Units. OliVe scales its normal grid so the outlier threshold is 32: INT-b values
times 32/2^(b-1). Here the normal grid stays in integer units, so the abfloat
values are divided by the same factor: at 4 bits the normal grid is ±{0..7} and the
outliers ±{12, 16, 24, 32, 48, 64, 96} (OliVe's ±{48, ..., 384} / 4).

In a `QuantSpec` the pairs are stored decoded: the dense code of a victim is the
code of 0, and each outlier is a row of the outlier side table (position, abfloat
code). `pair_encode` gives the in-band codes the hardware stores; `pair_decode`
reads them back.
"""

from __future__ import annotations

import numpy as np

from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.grids import sign_magnitude

ABFLOAT_EXPONENT_BITS = 2
ABFLOAT_EXPONENT_BIAS = 5  # OliVe's `outlier_value(exp_bit=2, exp_base=5)`
OLIVE_THRESHOLD = 32  # OliVe's normal/outlier boundary, in its own units
OLIVE_BITS = range(3, 9)


def abfloat(bits: int) -> Format:
    """OliVe's outlier format at `bits` bits, in the INT-b grid's units: magnitudes
    2^e·(1 + j/2^m) for e in bias..bias+3, j < 2^m (m = bits-3), dropping the
    smallest (2^bias, which normal values already reach), scaled by 2^(b-1)/32.
    Code = sign bit | magnitude index; index 0 is 0 (never an outlier)."""
    mantissa_bits = bits - 1 - ABFLOAT_EXPONENT_BITS
    unit = (1 << (bits - 1)) / OLIVE_THRESHOLD
    magnitudes = [0.0]
    for e in range(ABFLOAT_EXPONENT_BIAS, ABFLOAT_EXPONENT_BIAS + (1 << ABFLOAT_EXPONENT_BITS)):
        for j in range(1 << mantissa_bits):
            if (e, j) != (ABFLOAT_EXPONENT_BIAS, 0):
                magnitudes.append(2.0**e * (1 + j / (1 << mantissa_bits)) * unit)
    return sign_magnitude(f"olive_abfloat{bits}", magnitudes,
                          description=f"OliVe abfloat outliers (E2M{mantissa_bits}, bias 5), INT{bits} units")


def identifier_code(bits: int) -> int:
    """The victim marker: the code INT-b symmetric leaves unused (-2^(b-1))."""
    return 1 << (bits - 1)


def pair_outliers(candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given per element whether it rounds to an outlier (last axis paired as
    (even, odd)), return (kept outliers, victims): the even one wins a pair of two."""
    if candidate.shape[-1] % 2:
        raise ValueError(f"outlier-victim pairs need an even length along the axis, got {candidate.shape[-1]}")
    pairs = candidate.reshape(*candidate.shape[:-1], -1, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    kept = np.stack([even, odd & ~even], axis=-1).reshape(candidate.shape)
    victims = np.stack([odd & ~even, even], axis=-1).reshape(candidate.shape)
    return kept, victims


def quantize_pairs(xs: np.ndarray, normal: Format, outlier: Format) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled values `xs` (groups, length) -> (dense codes, outlier mask, outlier codes).

    Each element rounds to the nearest value of normal ∪ outlier grid (a tie keeps
    the normal value); pairs are then resolved by `pair_outliers`. Dense codes are
    the normal code, or the code of 0 for victims and outliers.
    """
    normal_codes = normal.encode(xs)
    outlier_codes = outlier.encode(xs)
    normal_err = np.abs(normal.values[normal_codes] - xs)
    outlier_err = np.abs(outlier.values[outlier_codes] - xs)
    candidate = (outlier_err < normal_err) & (outlier.values[outlier_codes] != 0)
    kept, victims = pair_outliers(candidate)
    zero = normal.encode(np.zeros(1))[0]
    dense = np.where(kept | victims, zero, normal_codes).astype(np.uint8)
    return dense, kept, outlier_codes.astype(np.uint8)


def _pair_partner(flat_index: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Flat index of each element's pair partner along `axis`."""
    position = list(np.unravel_index(flat_index, shape))
    position[axis] = position[axis] ^ 1
    return np.ravel_multi_index(position, shape)


def pair_encode(codes: np.ndarray, axis: int, outlier_index: np.ndarray, outlier_codes: np.ndarray,
                bits: int) -> np.ndarray:
    """The in-band b-bit codes OliVe stores: outliers in their own slot, the
    identifier in the victim's."""
    stored = np.array(codes, copy=True)
    flat = stored.reshape(-1)
    flat[outlier_index] = outlier_codes
    flat[_pair_partner(outlier_index, codes.shape, axis)] = identifier_code(bits)
    return stored


def pair_decode(stored: np.ndarray, axis: int, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-band codes -> (dense codes, outlier_index, outlier_codes), the inverse of
    `pair_encode` for codes a quantiser produced."""
    victims = np.flatnonzero(stored.reshape(-1) == identifier_code(bits))
    outlier_index = np.sort(_pair_partner(victims, stored.shape, axis))
    dense = np.array(stored, copy=True)
    flat = dense.reshape(-1)
    outlier_codes = flat[outlier_index].copy()
    flat[outlier_index] = 0
    flat[victims] = 0
    return dense, outlier_index.astype(np.int64), outlier_codes
