"""Quantising a numpy tensor into a `QuantSpec` (spec.py holds the layout and the
meaning of the result; `QuantSpec.dequantize()` is the reference value).

`quantize(w, scheme, ...)` takes a scheme name: an element format (`int4_sym`,
`fp4_e2m1`, `nf4`, `ternary`, ...), a per-group mixture (`bitmod4`), an MX format
(`mxfp4`) or an OliVe scheme (`olive4`); `scheme_names()` lists them. Groups run along
`axis` (default the last, the input channel of a `[out, in]` linear weight);
granularity "tensor", "channel" or "group" (`group_size` must divide the axis: there
is no padding, a clear error instead).

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
  clamped to E8M0's [-127, 127]; elements encoded saturating. MX names: see `schemes.MX_FORMATS`.
  For "mxint8" the stored scale is 2^X * 2^-6, because the int8 grid is in integer
  units while MX INT8 elements are k/64.
- "olive": OliVe (outliers.py). Scale = alpha / max(INT-b grid) with alpha =
  max|mean ± 3·std| of the group (OliVe's starting point); each value rounds to the
  nearest of the normal ∪ outlier grids, then pairs are resolved (victims pruned to
  0); outliers go to the spec's side table. With `clip_search` alpha is also scaled
  by the ratios below.
- `asymmetric=True` (integer formats only): the element format becomes `uint{k}`,
  scale = (max - min) / (2^k - 1), zero_point = round(-min / scale) clipped to
  [0, 2^k - 1], code = clip(round(w / scale) + zero_point, 0, 2^k - 1).

Mixtures (`fmt` a name in `registry.MIXTURES`, e.g. "bitmod4", or a `+`-joined
name, "int4_sym+fp4_e2m1+nf4"): every group tries each candidate with its own
absmax scale, rounds to nearest and keeps the candidate with the least MSE
mean((Q(w) - w)^2); ties keep the earlier candidate.

Importance (`importance`, an array broadcastable to `w`, non-negative): the searches
(mixture candidates, clip ratios) minimise the weighted error sum(importance *
(Q(w) - w)^2) per group instead, e.g. with a calibrated E[x^2] per input channel,
so a group's choice follows the error the layer's output feels. It changes which
candidate or ratio wins, never how a value rounds under a given scale. All ones
gives the same spec as no importance.

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
from functools import cache

import numpy as np

from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.outliers import quantize_pairs
from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.schemes import MX_BLOCK, QuantizationError, resolve_scheme
from bitsmith.ir.formats.spec import GRANULARITIES, QuantSpec


CLIP_RATIOS = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))  # 1.0, 0.95, ..., 0.5
_CHUNK_ELEMENTS = 1 << 18


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
    scale_rule: str | None = None,
    asymmetric: bool = False,
    clip_search: bool = False,
    scale_bits: int | None = None,
    importance: np.ndarray | None = None,
    where: str = "tensor",
) -> QuantSpec:
    """Quantise `w` with scheme `fmt` (a format, mixture, MX or OliVe name); see the
    module docstring. `where` names the tensor in error messages."""
    w = np.asarray(w)
    if w.ndim == 0 or w.size == 0:
        raise QuantizationError(f"{where}: cannot quantise an empty or 0-d tensor (shape {w.shape})")
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise QuantizationError(f"{where}: expected a real numeric tensor, got dtype {w.dtype}")
    if not np.isfinite(w).all():
        raise QuantizationError(f"{where}: contains NaN or inf; cannot quantise")
    if granularity not in GRANULARITIES:
        raise QuantizationError(f"{where}: granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    if not -w.ndim <= axis < w.ndim:
        raise QuantizationError(f"{where}: axis {axis} out of range for a {w.ndim}-d tensor")
    if scale_bits is not None and not 1 <= scale_bits <= 8:
        raise QuantizationError(f"{where}: scale_bits must be 1..8, got {scale_bits}")
    axis %= w.ndim
    scheme = resolve_scheme(fmt, asymmetric=asymmetric, scale_rule=scale_rule, where=where)
    names = scheme.formats
    fmts = tuple(get_format(n) for n in names)
    if scheme.scale_rule == "mx":
        granularity, group_size = "group", MX_BLOCK
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
    if scheme.outlier_format and length % 2:
        raise QuantizationError(f"{where}: OliVe pairs need an even axis length, got {length}")
    x2 = moved.reshape(rows * groups, size)
    weights = None if importance is None else _importance(importance, w.shape, axis, scheme.scale_rule,
                                                          asymmetric, where).reshape(x2.shape)

    n = rows * groups
    out_codes = np.empty((n, size), dtype=np.uint8)
    out_ids = np.zeros(n, dtype=np.uint8)
    out_scales = np.empty(n, dtype=np.float32)
    out_zp = np.empty(n, dtype=np.uint8) if asymmetric else None
    out_outliers = (np.zeros((n, size), dtype=bool), np.zeros((n, size), dtype=np.uint8)) if scheme.outlier_format else None
    ratios = CLIP_RATIOS if clip_search else (1.0,)

    def work(lo: int, hi: int) -> None:
        x = x2[lo:hi].astype(np.float64)
        imp = None if weights is None else weights[lo:hi]
        ids = None
        if asymmetric:
            c, s, z = _asymmetric(x, fmts[0])
            out_zp[lo:hi] = z
        elif scheme.scale_rule == "olive":
            c, s, kept, ocodes = _olive(x, fmts[0], get_format(scheme.outlier_format), ratios)
            out_outliers[0][lo:hi], out_outliers[1][lo:hi] = kept, ocodes
        elif scheme.scale_rule == "absmean":
            c, s, ids = _search(x, names, np.mean(np.abs(x), axis=1)[:, None], (1.0,), imp)
        elif scheme.scale_rule == "mx":
            c, s, ids = _search(x, names, _mx_scales(x, fmts[0], scheme.mx_unit)[:, None], (1.0,), imp)
        else:
            divisors = np.array([_max_abs(f) for f in fmts])
            c, s, ids = _search(x, names, np.max(np.abs(x), axis=1)[:, None] / divisors[None, :], ratios, imp)
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
    outlier_index = outlier_codes = None
    if out_outliers is not None:
        original = np.moveaxis(np.arange(w.size).reshape(w.shape), axis, -1).reshape(-1)
        positions = original[np.flatnonzero(out_outliers[0])]
        order = np.argsort(positions)
        outlier_index = positions[order].astype(np.int64)
        outlier_codes = out_outliers[1][out_outliers[0]][order]
    return QuantSpec(
        scheme=fmt, shape=tuple(w.shape), axis=axis, granularity=granularity,
        group_size=size if granularity == "group" else None, formats=names, scale_rule=scheme.scale_rule,
        asymmetric=asymmetric, scale_bits=scale_bits, outlier_format=scheme.outlier_format,
        codes=codes, format_ids=out_ids.reshape(rows, groups), scales=scales,
        zero_points=None if out_zp is None else out_zp.reshape(rows, groups),
        scale_codes=scale_codes, channel_scales=channel_scales,
        outlier_index=outlier_index, outlier_codes=outlier_codes)


def _as_scale(raw: np.ndarray) -> np.ndarray:
    """float32-representable scales (as float64); zero (or denormal-zero) scales -> 1."""
    s = raw.astype(np.float32).astype(np.float64)
    return np.where(s > 0, s, 1.0)


def _importance(importance: np.ndarray, shape: tuple[int, ...], axis: int, scale_rule: str, asymmetric: bool,
                where: str) -> np.ndarray:
    """`importance` broadcast to the tensor, with the group axis moved last (float64)."""
    if asymmetric or scale_rule == "olive":
        raise QuantizationError(f"{where}: importance weighs the per-group search; asymmetric and OliVe "
                                "quantisation have none")
    imp = np.asarray(importance, dtype=np.float64)
    try:
        imp = np.broadcast_to(imp, shape)
    except ValueError:
        raise QuantizationError(f"{where}: importance of shape {list(imp.shape)} does not broadcast to "
                                f"the tensor's {list(shape)}") from None
    if not (np.isfinite(imp).all() and (imp >= 0).all()):
        raise QuantizationError(f"{where}: importance must be finite and non-negative")
    return np.moveaxis(imp, axis, -1)


def _search(x: np.ndarray, names: tuple[str, ...], base: np.ndarray, ratios: tuple[float, ...],
            importance: np.ndarray | None = None):
    """For each (ratio, candidate) the scale base[:, c] * ratio; keep the least
    (importance-weighted) squared error per group (first wins ties). Returns codes,
    float32 scales, candidate ids."""
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
            err = np.einsum("ij,ij->i", d if importance is None else d * importance, d) * scale * scale
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


def _olive(x: np.ndarray, normal: Format, outlier: Format, ratios: tuple[float, ...]):
    """OliVe per group: alpha = max|mean ± 3·std| (OliVe's `search_mse` start),
    scale = alpha·ratio / max(normal grid); keep the ratio with the least MSE after
    the outlier-victim pairing. Returns codes, scales, outlier mask, outlier codes."""
    mean = x.mean(axis=1)
    std = x.std(axis=1, ddof=1) if x.shape[1] > 1 else np.zeros(len(x))
    alpha = np.maximum(np.abs(mean + 3 * std), np.abs(mean - 3 * std))
    best = None
    for ratio in ratios:
        scale = _as_scale(alpha * ratio / normal.max)
        xs = x / scale[:, None]
        dense, kept, ocodes = quantize_pairs(xs, normal, outlier)
        values = np.where(kept, outlier.values[ocodes], normal.values[dense])
        err = np.sum((values - xs) ** 2, axis=1) * scale * scale
        if best is None:
            best = [err, dense, scale, kept, ocodes]
            continue
        better = err < best[0]
        best = [np.where(better, err, best[0]), np.where(better[:, None], dense, best[1]),
                np.where(better, scale, best[2]), np.where(better[:, None], kept, best[3]),
                np.where(better[:, None], ocodes, best[4])]
    _, dense, scale, kept, ocodes = best
    return dense, scale.astype(np.float32), kept, ocodes


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
