"""Weight tiles for PE tests, built code by code so the reference is exact.

`spec_from_codes` makes a `[N, K]` QuantSpec from chosen codes and scales; with
integer activations and power-of-two scales every product and sum is an integer
times a power of two, so float64 results are exact and a PE's output can be
compared with `==` against `x @ spec.dequantize().T`.
"""

from __future__ import annotations

import numpy as np

from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.spec import QuantSpec


def random_codes(rng: np.random.Generator, fmt: str, shape: tuple[int, ...]) -> np.ndarray:
    """Codes of finite values of `fmt` that encode can produce (no NaN, inf or
    reserved codes)."""
    format_ = get_format(fmt)
    usable = np.setdiff1d(np.flatnonzero(np.isfinite(format_.values)), format_.reserved)
    return rng.choice(usable, size=shape).astype(np.uint8)


def spec_from_codes(rng: np.random.Generator, formats: tuple[str, ...], n: int, k: int, group: int | None, *,
                    zero_points: bool = False, scale_bits: int | None = None) -> QuantSpec:
    """A random `[N, K]` spec: codes per group in one of `formats`, power-of-two
    scales (or power-of-two channel scales times `scale_bits`-bit codes), optional
    zero points."""
    groups = k // group if group else 1
    format_ids = rng.integers(0, len(formats), size=(n, groups)).astype(np.uint8)
    codes = np.empty((n, groups, k // groups), dtype=np.uint8)
    for f, name in enumerate(formats):
        codes[format_ids == f] = random_codes(rng, name, (int((format_ids == f).sum()), k // groups))
    scales = np.ldexp(1.0, rng.integers(-3, 4, size=(n, groups))).astype(np.float32)
    extra: dict[str, object] = {}
    if scale_bits:
        extra["scale_codes"] = rng.integers(0, 1 << scale_bits, size=(n, groups)).astype(np.uint8)
        extra["channel_scales"] = np.ldexp(1.0, rng.integers(-6, 0, size=n)).astype(np.float32)
        extra["scale_bits"] = scale_bits
    if zero_points:
        top = 1 << get_format(formats[0]).bits
        extra["zero_points"] = rng.integers(0, top, size=(n, groups)).astype(np.uint8)
    return QuantSpec(
        scheme="+".join(formats), shape=(n, k), axis=1, granularity="group" if group else "channel",
        group_size=group, formats=formats, asymmetric=zero_points, codes=codes.reshape(n, k),
        format_ids=format_ids, scales=scales, **extra)


def reference(x: np.ndarray, weights: QuantSpec | np.ndarray) -> np.ndarray:
    """What any PE must compute: activations times the dequantised weights."""
    if isinstance(weights, QuantSpec):
        return x.astype(np.float64) @ weights.dequantize().T
    return x.astype(np.int64) @ weights.astype(np.int64).T

