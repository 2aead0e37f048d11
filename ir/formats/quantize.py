"""Quantising a numpy tensor into a `Format` (or a per-group mixture of formats).

`quantize(w, fmt, ...)` returns a `QuantizedTensor`: per-element codes, and per
group a format id, a scale, optionally a zero point, and optionally BitMoD's
second-level scale quantisation (FACTS §1.1). `QuantizedTensor.dequantize()` is the
reference meaning of the result: `(decode(code) - zero_point) * scale` per group.

Layout. Groups run along `axis` (default the last, the input channel of a
`[out, in]` linear weight). The other axes are flattened into "rows". Per-group
arrays (`format_ids`, `scales`, `zero_points`, `scale_codes`) have shape
`(rows, groups_per_row)`; `channel_scales` has shape `(rows,)`; `codes` has the
tensor's shape. Granularity "tensor" is one group of every element (shape (1, 1)),
"channel" one group per row (the whole axis), "group" `group_size` elements along
the axis. `group_size` must divide the axis length: there is no padding.

Scale rules:
- "absmax": scale = absmax(group) / max|grid| (BitMoD's rule, FACTS §1.1; for the
  asymmetric EA grids max|grid| is 6 or 16). With `clip_search`, the absmax is
  multiplied by alpha in {1.0, 0.95, ..., 0.5} and the alpha with the least group
  MSE is kept (ties keep the larger alpha).
- "absmean": scale = mean|w| of the group (BitNet b1.58 ternary: codes are
  clip(round(w / scale), -1, 1) with round half to even).
- "mx": OCP MX v1.0. Blocks of 32 along the axis (forced, whatever `group_size`
  says), shared scale 2^X with X = floor(log2(absmax)) - emax_elem, emax_elem the
  exponent of the element format's largest normal (floor(log2(max|grid|))), X
  clamped to E8M0's [-127, 127]; elements encoded saturating. MX names: see `MX_FORMATS`.
  For "mxint8" the stored scale is 2^X * 2^-6, because the int8 grid is in integer
  units while MX INT8 elements are k/64.
- `asymmetric=True` (integer formats only): the element format becomes `uint{k}`,
  scale = (max - min) / (2^k - 1), zero_point = round(-min / scale) clipped to
  [0, 2^k - 1], code = clip(round(w / scale) + zero_point, 0, 2^k - 1).

Mixtures (`fmt` a name in `registry.MIXTURES`, e.g. "bitmod4"): every group tries
each candidate with its own absmax scale, rounds to nearest and keeps the candidate
with the least MSE mean((Q(w) - w)^2); ties keep the earlier candidate.

Degenerate groups: a group whose scale would be 0 (all zeros; a constant group under
"asymmetric" uses |value| / (2^k - 1) instead) gets scale 1, so it dequantises to
exactly 0. Scales are stored as float32 and the codes are chosen with that float32
value, so `dequantize()` reproduces exactly what the search measured.

Second-level scale quantisation (`scale_bits`, FACTS §1.1, DEV
`quant_weight_double.py`): per row, channel_scale = max_g(scale_g) / (2^b - 1),
scale_code_g = round(scale_g / channel_scale) (b-bit unsigned), effective scale =
channel_scale * scale_code_g. Codes are those chosen with the first-level scale (as
the DEV code does), so per element |dequantize - w| <= half_step * scale_g +
max|grid value used| * channel_scale / 2, where half_step is half the largest gap of
the group's grid (for asymmetric INT the grid value is |code - zero_point|).

Rounding is round-to-nearest with the same tie rule as `Format.encode` (ties to the
even code), saturating at the grid's ends, done with a precomputed breakpoint table
(one `searchsorted` per distinct scale) so the mixture search is fast.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.registry import MIXTURES, get_format


class QuantizationError(BitsmithError, ValueError):
    """Bad input to the quantiser (NaN/inf weights, a group size that does not divide
    the axis, an unknown option); the message is one line naming the problem."""


# MX (OCP Microscaling v1.0) names -> element format in the registry, and the factor
# the element grid is multiplied by to get MX element values (INT8: k/64).
MX_FORMATS: dict[str, tuple[str, float]] = {
    "mxfp4": ("fp4_e2m1", 1.0),
    "mxfp6_e2m3": ("fp6_e2m3", 1.0),
    "mxfp6_e3m2": ("fp6_e3m2", 1.0),
    "mxfp8_e4m3": ("fp8_e4m3", 1.0),
    "mxfp8_e5m2": ("fp8_e5m2", 1.0),
    "mxint8": ("int8_sym", 2.0**-6),
}
MX_BLOCK = 32
CLIP_RATIOS = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # 1.0, 0.95, ..., 0.5
_GRANULARITIES = ("tensor", "channel", "group")
_SCALE_RULES = ("absmax", "absmean", "mx")
_CHUNK_ELEMENTS = 1 << 18


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """A quantised tensor: see the module docstring for the layout."""

    shape: tuple[int, ...]
    axis: int
    granularity: str
    group_size: int | None
    formats: tuple[str, ...]
    format_ids: np.ndarray  # uint8 (rows, groups)
    codes: np.ndarray  # uint8, tensor shape
    scales: np.ndarray  # float32 (rows, groups), first-level scales
    zero_points: np.ndarray | None = None  # uint8 (rows, groups), asymmetric INT
    scale_codes: np.ndarray | None = None  # uint8 (rows, groups), second-level
    channel_scales: np.ndarray | None = None  # float32 (rows,), second-level
    scale_bits: int | None = None

    def effective_scales(self) -> np.ndarray:
        """The scale each group dequantises with (float64, (rows, groups))."""
        if self.scale_codes is None:
            return self.scales.astype(np.float64)
        return self.channel_scales.astype(np.float64)[:, None] * self.scale_codes.astype(np.float64)

    def _grouped_codes(self) -> np.ndarray:
        rows, groups = self.scales.shape
        return np.moveaxis(self.codes, self.axis, -1).reshape(rows, groups, -1)

    def dequantize(self) -> np.ndarray:
        """(decode(code) - zero_point) * scale per group; float64 inside, float32 out."""
        table = np.zeros((len(self.formats), 256), dtype=np.float64)
        for i, name in enumerate(self.formats):
            vals = get_format(name).values
            table[i, : len(vals)] = vals
        codes = self._grouped_codes()
        flat = self.format_ids.astype(np.intp)[:, :, None] * 256 + codes
        vals = table.ravel()[flat]
        if self.zero_points is not None:
            vals = vals - self.zero_points.astype(np.float64)[:, :, None]
        vals = vals * self.effective_scales()[:, :, None]
        moved = np.moveaxis(self.codes, self.axis, -1).shape
        return np.moveaxis(vals.reshape(moved), -1, self.axis).astype(np.float32)


# --- fast round-to-nearest --------------------------------------------------------
class _Codec:
    """Round-to-nearest for several formats at once, same results as `Format.encode`
    for finite inputs but saturating at the grid ends. One searchsorted over the union
    of the candidates' midpoints (each midpoint followed by its float64 successor, so
    an input exactly on a midpoint gets its own slot and the format's tie rule)."""

    def __init__(self, fmts: tuple[Format, ...]):
        mids, ties = [], []
        for f in fmts:
            g = f.grid
            m = (g[1:] + g[:-1]) / 2
            mids.append(m)
            ties.append(f.values[f.encode(m)] == g[1:])  # tie goes to the upper value
        b = np.unique(np.concatenate(mids))
        self.breaks = np.empty(2 * len(b))
        self.breaks[0::2], self.breaks[1::2] = b, np.nextafter(b, np.inf)
        self.values, self.codes, self.neg_codes = [], [], []
        for f, m, tie_up in zip(fmts, mids, ties, strict=True):
            # slot 2i: inside interval i (between b[i-1] and b[i]); slot 2i+1: x == b[i]
            inside = np.searchsorted(m, np.concatenate(([-np.inf], b)), side="right")
            on = inside[:-1].copy()
            pos = np.searchsorted(m, b)
            hit = (pos < len(m)) & (m[np.minimum(pos, len(m) - 1)] == b)
            on[hit] += tie_up[pos[hit]]
            k = np.empty(2 * len(b) + 1, dtype=np.intp)
            k[0::2], k[1::2] = inside, on
            codes = f.encode(f.grid)
            self.values.append(f.grid[k])
            self.codes.append(codes[k].astype(np.uint8))
            neg = [c for c, v in enumerate(f.table) if v == 0.0 and np.signbit(v)]
            nc = codes[k].astype(np.uint8)
            if neg:
                nc[f.grid[k] == 0.0] = neg[0]
                self.neg_codes.append(nc)
            else:
                self.neg_codes.append(None)

    def index(self, xs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.breaks, xs, side="right")

    def encode(self, c: int, idx: np.ndarray, xs: np.ndarray) -> np.ndarray:
        codes = self.codes[c][idx]
        if self.neg_codes[c] is not None:
            codes = np.where(np.signbit(xs), self.neg_codes[c][idx], codes)
        return codes


@cache
def _codec(names: tuple[str, ...]) -> _Codec:
    return _Codec(tuple(get_format(n) for n in names))


def _max_abs(fmt: Format) -> float:
    return float(np.max(np.abs(fmt.grid)))


def _half_step(fmt: Format) -> float:
    return float(np.max(np.diff(fmt.grid))) / 2


# --- the quantiser --------------------------------------------------------------------
def quantize(
    w: np.ndarray,
    fmt: str,
    *,
    group_size: int | None = 128,
    axis: int = -1,
    granularity: str = "group",
    scale_rule: str = "absmax",
    asymmetric: bool = False,
    clip_search: bool = False,
    scale_bits: int | None = None,
    where: str = "tensor",
) -> QuantizedTensor:
    """Quantise `w` to `fmt` (a format name, a mixture name, or an MX name); see the
    module docstring. `where` names the tensor in error messages."""
    w = np.asarray(w)
    if w.ndim == 0 or w.size == 0:
        raise QuantizationError(f"{where}: cannot quantise an empty or 0-d tensor (shape {w.shape})")
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise QuantizationError(f"{where}: expected a real numeric tensor, got dtype {w.dtype}")
    if not np.isfinite(w).all():
        raise QuantizationError(f"{where}: contains NaN or inf; cannot quantise")
    if granularity not in _GRANULARITIES:
        raise QuantizationError(f"{where}: granularity must be one of {', '.join(_GRANULARITIES)}, got {granularity!r}")
    if scale_rule not in _SCALE_RULES:
        raise QuantizationError(f"{where}: scale_rule must be one of {', '.join(_SCALE_RULES)}, got {scale_rule!r}")
    if not -w.ndim <= axis < w.ndim:
        raise QuantizationError(f"{where}: axis {axis} out of range for a {w.ndim}-d tensor")
    if scale_bits is not None and not 1 <= scale_bits <= 8:
        raise QuantizationError(f"{where}: scale_bits must be 1..8, got {scale_bits}")
    axis %= w.ndim

    mx_unit = 1.0
    if fmt in MIXTURES:
        names = MIXTURES[fmt]
    elif fmt in MX_FORMATS:
        element, mx_unit = MX_FORMATS[fmt]
        names, scale_rule = (element,), "mx"
    else:
        names = (get_format(fmt).name,)  # raises UnknownFormatError
    fmts = tuple(get_format(n) for n in names)
    if scale_rule == "mx":
        granularity, group_size = "group", MX_BLOCK
        if len(fmts) != 1:
            raise QuantizationError(f"{where}: scale_rule 'mx' needs a single element format, got mixture {fmt!r}")
    if asymmetric:
        if len(fmts) != 1 or fmts[0].family != "int" or scale_rule != "absmax":
            raise QuantizationError(f"{where}: asymmetric quantisation needs one integer format and absmax, got {fmt!r}")
        fmts = (get_format(f"uint{fmts[0].bits}"),)
        names = (fmts[0].name,)
    if scale_rule == "absmean" and len(fmts) != 1:
        raise QuantizationError(f"{where}: scale_rule 'absmean' needs a single format, got mixture {fmt!r}")
    if granularity == "group" and group_size is None:
        granularity = "channel"

    moved = np.moveaxis(w, axis, -1)
    length = moved.shape[-1]
    if granularity == "tensor":
        rows, groups, size = 1, 1, w.size
    elif granularity == "channel":
        rows, groups, size = moved.size // length, 1, length
    else:
        if group_size <= 0:
            raise QuantizationError(f"{where}: group_size must be positive, got {group_size}")
        if length % group_size:
            raise QuantizationError(
                f"{where}: group size {group_size} does not divide axis length {length} (no padding is done)")
        rows, groups, size = moved.size // length, length // group_size, group_size
    x2 = moved.reshape(rows * groups, size)

    n = rows * groups
    out_codes = np.empty((n, size), dtype=np.uint8)
    out_ids = np.zeros(n, dtype=np.uint8)
    out_scales = np.empty(n, dtype=np.float32)
    out_zp = np.empty(n, dtype=np.uint8) if asymmetric else None

    def work(lo: int, hi: int) -> None:
        x = x2[lo:hi].astype(np.float64)
        if asymmetric:
            c, s, z = _asymmetric(x, fmts[0])
            out_zp[lo:hi] = z
            ids = None
        elif scale_rule == "absmean":
            c, s, ids = _search(x, names, np.mean(np.abs(x), axis=1)[:, None], (1.0,))
        elif scale_rule == "mx":
            c, s, ids = _search(x, names, _mx_scales(x, fmts[0], mx_unit)[:, None], (1.0,))
        else:
            divisors = np.array([_max_abs(f) for f in fmts])
            absmax = np.max(np.abs(x), axis=1)
            ratios = CLIP_RATIOS if clip_search else (1.0,)
            c, s, ids = _search(x, names, absmax[:, None] / divisors[None, :], ratios)
        out_codes[lo:hi], out_scales[lo:hi] = c, s
        if ids is not None:
            out_ids[lo:hi] = ids

    step = max(1, _CHUNK_ELEMENTS // size)
    bounds = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    if len(bounds) > 1:
        with ThreadPoolExecutor(max_workers=min(len(bounds), os.cpu_count() or 1)) as pool:
            list(pool.map(lambda b: work(*b), bounds))
    else:
        work(*bounds[0])

    codes = np.moveaxis(out_codes.reshape(moved.shape), -1, axis)
    scales = out_scales.reshape(rows, groups)
    scale_codes = channel_scales = None
    if scale_bits is not None:
        top = (1 << scale_bits) - 1
        channel_scales = (scales.astype(np.float64).max(axis=1) / top).astype(np.float32)
        scale_codes = np.clip(np.rint(scales / channel_scales.astype(np.float64)[:, None]), 0, top).astype(np.uint8)
    return QuantizedTensor(
        shape=tuple(w.shape), axis=axis, granularity=granularity,
        group_size=size if granularity == "group" else None, formats=tuple(names),
        format_ids=out_ids.reshape(rows, groups), codes=codes, scales=scales,
        zero_points=None if out_zp is None else out_zp.reshape(rows, groups),
        scale_codes=scale_codes, channel_scales=channel_scales, scale_bits=scale_bits)


def _as_scale(raw: np.ndarray) -> np.ndarray:
    """float32-representable scales (as float64); zero (or denormal-zero) scales -> 1."""
    s = raw.astype(np.float32).astype(np.float64)
    return np.where(s > 0, s, 1.0)


def _search(x: np.ndarray, names: tuple[str, ...], base: np.ndarray, ratios: tuple[float, ...]):
    """For each (ratio, candidate) the scale base[:, c] * ratio; keep the least-MSE
    per group (first wins ties). Returns codes, float32 scales, candidate ids."""
    codec = _codec(names)
    n = x.shape[0]
    single = len(names) == 1 and len(ratios) == 1
    best_err = np.full(n, np.inf)
    best_codes = np.empty(x.shape, dtype=np.uint8)
    best_scale = np.empty(n)
    best_id = np.zeros(n, dtype=np.uint8)
    for ratio in ratios:
        # candidates sharing a scale share one division and one searchsorted
        cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for c in range(len(names)):
            scale = _as_scale(base[:, c] * ratio)
            key = scale.tobytes()
            if key not in cache:
                xs = x / scale[:, None]
                cache = {key: (xs, codec.index(xs))}
            xs, idx = cache[key]
            if single:
                return codec.encode(c, idx, xs), scale.astype(np.float32), best_id
            d = codec.values[c][idx]
            d -= xs
            err = np.einsum("ij,ij->i", d, d) * scale * scale
            better = err < best_err
            if better.any():
                best_err = np.where(better, err, best_err)
                best_scale = np.where(better, scale, best_scale)
                best_id = np.where(better, c, best_id).astype(np.uint8)
                best_codes = np.where(better[:, None], codec.encode(c, idx, xs), best_codes)
    return best_codes, best_scale.astype(np.float32), best_id


def _mx_scales(x: np.ndarray, fmt: Format, unit: float) -> np.ndarray:
    """2^X per block, X = floor(log2(absmax)) - emax_elem (clamped to E8M0's range),
    times `unit` (the element grid's value unit); all-zero blocks get 1."""
    absmax = np.max(np.abs(x), axis=1)
    emax = math.floor(math.log2(_max_abs(fmt) * unit))
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(absmax > 0, absmax, 1.0))) - emax
    e = np.clip(e, -127, 127)
    return np.where(absmax > 0, np.exp2(e) * unit, 1.0)


def _asymmetric(x: np.ndarray, fmt: Format):
    top = float((1 << fmt.bits) - 1)
    lo, hi = x.min(axis=1), x.max(axis=1)
    raw = np.where(hi > lo, (hi - lo) / top, np.abs(hi) / top)
    scale = _as_scale(raw)
    zp = np.clip(np.rint(-lo / scale), 0, top)
    codes = np.clip(np.rint(x / scale[:, None]) + zp[:, None], 0, top)
    return codes.astype(np.uint8), scale.astype(np.float32), zp.astype(np.uint8)


def half_step(name: str) -> float:
    """Half the largest gap between neighbouring grid values of format `name`: the
    round-to-nearest error bound in grid units inside the grid's range."""
    return _half_step(get_format(name))
