"""The numerics of the IR's `fake_quant` op: an activation rounded to a number
format's grid and scaled back, x -> Q(x / s) · s, still held in floating point.

An accelerator with integer (or FP8) activation datapaths rounds every activation
to its format as it loads a GEMM operand. `fake_quant` states that rounding in the
graph, so the reference interpreter, the simulator's functional run and the cost
model (which reads the format's width) all see the same operand the hardware does.

Formats: any registry element format (`int8_sym`, `int4`, `uint8`, `fp8_e4m3`,
`nf4`, ...), or an integer IR dtype (`i16`): the registry holds formats of at most
8 bits, while Stripes' widest activation path is 16-bit fixed point. Integer grids
(the registry's `int` family and the dtypes) are uniform, so they round with
numpy's `rint` (ties to even, as `Format.encode` does for them); other grids round
with `Format.round` (nearest, ties to the even code).

Scales, from a range [lo, hi] widened to contain 0 (as torch's observers do, so
the grid always holds an exact zero and a positive range is not clipped):
- signed formats, symmetric: s = max(|lo|, |hi|) / max(grid), so the absmax maps to
  the grid's largest value (LLM.int8() and SmoothQuant: s = absmax / 127 for int8);
- unsigned formats, asymmetric with a zero point: s = (hi - lo) / max(grid),
  z = rint(-lo / s), and x -> (clip(rint(x / s) + z, 0, max) - z) · s, torch's
  `fake_quantize_per_tensor_affine`;
- a scale that would be 0 (an all-zero tensor or row) is 1, so zeros stay exact.

Granularity: "tensor" is static (s and z are attributes, from calibration);
"token" is dynamic, one (s, z) per row along the last axis computed from that row
at run time, as LLM int8 kernels quantise activations per token. x / s saturates
at the grid's ends before rounding (never inf or NaN: `fp8_e4m3`'s own cast
overflows to NaN); NaN inputs stay NaN. The arithmetic is float64; the op's result
is then rounded once to the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from bitsmith.ir import dtypes
from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.registry import UnknownFormatError, get_format

GRANULARITIES = ("tensor", "token")


@dataclass(frozen=True)
class ActivationFormat:
    """A format activations can be fake-quantised to: its grid's range and how to
    round onto it (`grid` None: the uniform integer grid lo..hi)."""

    name: str
    bits: int
    lo: float
    hi: float
    grid: Format | None

    @property
    def asymmetric(self) -> bool:
        """Unsigned grids take a zero point; signed ones scale symmetrically."""
        return self.lo >= 0

    def scales(self, lo: np.ndarray | float, hi: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(scale, zero point) for values in [lo, hi] (broadcasting arrays); the
        zero point is 0 for symmetric formats (module docstring)."""
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        raw = (hi - lo) / self.hi if self.asymmetric else np.maximum(-lo, hi) / self.hi
        scale = np.where(raw > 0, raw, 1.0)
        zero = np.clip(np.rint(-lo / scale), 0, self.hi) if self.asymmetric else np.zeros_like(scale)
        return scale, zero

    def round(self, units: np.ndarray, zero: np.ndarray | float = 0.0) -> np.ndarray:
        """`units` (x / s, float64) saturated and rounded onto the grid shifted by
        the zero point: the grid value minus the zero point, in scale units."""
        clipped = np.clip(units, self.lo - zero, self.hi - zero)
        if self.grid is None:
            return np.rint(clipped)
        nan = np.isnan(clipped)
        rounded = self.grid.round(np.where(nan, 0.0, clipped))
        return np.where(nan, np.nan, rounded)


@cache
def activation_format(name: str) -> ActivationFormat:
    """The activation format called `name`; raises UnknownFormatError for a name
    that is neither a registry element format nor an integer IR dtype."""
    try:
        fmt = get_format(name)
    except UnknownFormatError:
        wide = _integer_dtype(name)
        if wide is None:
            raise UnknownFormatError(f"unknown activation format {name!r}: expected a format `bitsmith formats` "
                                     "lists or an integer type (i8, u8, i16, i32)") from None
        half = 1 << (wide.bits - 1)
        lo, hi = (-half, half - 1) if wide.kind == "int" else (0, 2 * half - 1)
        return ActivationFormat(name, wide.bits, float(lo), float(hi), None)
    if fmt.nonpositive_is_nan or fmt.min >= fmt.max:
        raise UnknownFormatError(f"format {name!r} cannot hold activations (it has no zero or no range)")
    return ActivationFormat(name, fmt.bits, fmt.min, fmt.max, None if fmt.family == "int" else fmt)


def _integer_dtype(name: str) -> dtypes.DType | None:
    try:
        found = dtypes.dtype(name)
    except KeyError:
        return None
    return found if found.is_integer else None


def fake_quantize(x: np.ndarray, format: str, scale: float | None, granularity: str,
                  zero_point: int | None) -> np.ndarray:
    """`x` rounded to `format`'s grid with a static scale (granularity "tensor") or
    one computed per row along the last axis ("token"); float64 (module docstring)."""
    fmt = activation_format(format)
    x = np.asarray(x, dtype=np.float64)
    if granularity == "token":
        if x.size == 0:
            return x
        s, z = fmt.scales(np.min(x, axis=-1, keepdims=True), np.max(x, axis=-1, keepdims=True))
    else:
        s, z = np.float64(scale), np.float64(zero_point or 0)
    return fmt.round(x / s, z) * s


def attr_problem(attrs: Mapping[str, Any]) -> str | None:
    """Why `fake_quant` attributes are invalid, or None when they are valid: the
    format exists, granularity is "tensor" with a positive finite scale or "token"
    without one, and a zero point (an int in the grid) is given exactly when an
    unsigned format is scaled statically."""
    try:
        fmt = activation_format(attrs["format"]) if isinstance(attrs["format"], str) else None
    except UnknownFormatError as err:
        return str(err)
    if fmt is None:
        return f"format must be a format name, got {attrs['format']!r}"
    granularity, scale, zero_point = attrs["granularity"], attrs["scale"], attrs["zero_point"]
    if granularity not in GRANULARITIES:
        return f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
    if granularity == "token":
        if scale is not None or zero_point is not None:
            return "granularity 'token' computes its scale per row: scale and zero_point must be None"
        return None
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        return f"granularity 'tensor' needs a positive finite scale, got {scale!r}"
    if not fmt.asymmetric:
        return None if zero_point is None else f"zero_point is for unsigned formats; {fmt.name} is signed"
    if isinstance(zero_point, bool) or not isinstance(zero_point, int) or not fmt.lo <= zero_point <= fmt.hi:
        return f"unsigned {fmt.name} needs an integer zero_point in [{fmt.lo:g}, {fmt.hi:g}], got {zero_point!r}"
    return None
