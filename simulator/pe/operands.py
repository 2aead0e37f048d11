"""Operands as PE datapaths read them.

A GEMM tile reaches a PE model as activations `x [M, K]` and weights `[N, K]`: a
`QuantSpec` whose groups run along K (shape `(N, K)`, `axis=1`, the layout
`quantize` gives a linear weight), or a plain integer array for integer datapaths
(Stripes' 16-bit weights, which no 8-bit format holds). This module puts them in
one per-(row, group) layout, `[N, G, L]` with G groups of L weights, so each PE
model works on whole groups with numpy and never re-derives the spec's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.simulator.errors import SimulationError


def signed_width(values: np.ndarray) -> int:
    """Bits of the narrowest two's-complement integer holding every value (at
    least 1): what a per-layer precision profiler (Stripes, Loom) would pick."""
    if values.size == 0:
        return 1
    magnitude = max(int(values.max()), -int(values.min()) - 1, 0)
    return magnitude.bit_length() + 1


def integer_activations(x: np.ndarray, kind: str) -> np.ndarray:
    """`x` as int64, for PEs whose datapath takes integer activations."""
    x = np.asarray(x)
    if x.size and not np.array_equal(x, np.rint(x)):
        raise SimulationError(f"pe {kind!r} cannot take non-integer activations: it walks their bits")
    return x.astype(np.int64)


def check_tile(x: np.ndarray, k: int, kind: str) -> None:
    """Activations must be `[M, K]` with the weights' K."""
    if x.ndim != 2 or x.shape[1] != k:
        raise SimulationError(f"pe {kind!r}: activations must be [M, {k}] against weights with K={k}, "
                              f"got {list(x.shape)}")


@dataclass(frozen=True, eq=False)
class GroupedWeights:
    """A `[N, K]` QuantSpec per (row, group): `codes [N, G, L]`, and per group the
    format id, effective scale, zero point, and second-level scale code; the
    second level's per-row scale is `channel_scales [N]`."""

    scheme: str
    formats: tuple[Format, ...]
    codes: np.ndarray
    format_ids: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None
    scale_codes: np.ndarray | None
    channel_scales: np.ndarray | None
    scale_bits: int | None

    @property
    def shape(self) -> tuple[int, int]:
        n, g, length = self.codes.shape
        return n, g * length

    @classmethod
    def from_spec(cls, spec: QuantSpec, kind: str) -> GroupedWeights:
        if spec.shape_only:
            raise SimulationError(f"pe {kind!r}: weights {spec.scheme} are shape-only, no values to compute with")
        if len(spec.shape) != 2 or spec.axis != 1:
            raise SimulationError(f"pe {kind!r}: weights must be [N, K] with groups along K (axis 1), "
                                  f"got shape {list(spec.shape)} axis {spec.axis}")
        if spec.outlier_format:
            raise SimulationError(f"pe {kind!r} cannot take {spec.scheme} weights: "
                                  f"it has no path for the {spec.outlier_format} outlier side table")
        n, k = spec.shape
        groups = k // spec.group_size if spec.granularity == "group" else 1

        def per_group(array: np.ndarray | None, dtype: type) -> np.ndarray | None:
            return None if array is None else np.broadcast_to(array.astype(dtype), (n, groups))

        return cls(
            scheme=spec.scheme,
            formats=tuple(get_format(name) for name in spec.formats),
            codes=spec.codes.reshape(n, groups, k // groups).astype(np.intp),
            format_ids=per_group(spec.format_ids, np.intp),
            scales=np.broadcast_to(spec.effective_scales(), (n, groups)),
            zero_points=per_group(spec.zero_points, np.int64),
            scale_codes=per_group(spec.scale_codes, np.int64),
            channel_scales=None if spec.channel_scales is None
            else np.broadcast_to(spec.channel_scales.astype(np.float64), (n,)),
            scale_bits=spec.scale_bits,
        )


@dataclass(frozen=True, eq=False)
class IntegerWeights:
    """Integer weights `[N, G, L]` as stored (`raw`: two's complement when `signed`,
    else unsigned, `bits` wide), with a per-group zero point and scale where the
    weights carry them; value = (raw - zero_point) * scale."""

    raw: np.ndarray
    bits: int
    signed: bool
    zero_points: np.ndarray | None
    scales: np.ndarray | None

    def values(self) -> np.ndarray:
        """Integer values `[N, G, L]` (int64), zero point removed, scale not applied."""
        if self.zero_points is None:
            return self.raw
        return self.raw - self.zero_points[:, :, np.newaxis]

    @classmethod
    def from_operand(cls, weights: QuantSpec | np.ndarray, kind: str) -> IntegerWeights:
        """From a single-format integer QuantSpec, or an integer array `[N, K]`
        (one group per row, no scale)."""
        if isinstance(weights, QuantSpec):
            grouped = GroupedWeights.from_spec(weights, kind)
            fmt = grouped.formats[0]
            if len(grouped.formats) > 1 or fmt.family != "int":
                names = ", ".join(f.name for f in grouped.formats)
                raise SimulationError(f"pe {kind!r} cannot take {weights.scheme} weights ({names}): "
                                      f"it needs one integer format")
            raw = fmt.values[grouped.codes].astype(np.int64)
            return cls(raw, fmt.bits, fmt.signed, grouped.zero_points, grouped.scales)
        array = np.asarray(weights)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
            raise SimulationError(f"pe {kind!r}: plain weights must be an integer [N, K] array, "
                                  f"got {array.dtype}{list(array.shape)}")
        raw = array.astype(np.int64)[:, np.newaxis, :]
        return cls(raw, signed_width(raw), True, None, None)


def sum_groups(partial: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """Outputs `[M, N]` from per-group partial sums `[M, N, G]`: each group times its
    scale `[N, G]`, summed; without scales the integer sum, kept exact in int64."""
    if scales is None:
        return partial.sum(axis=2)
    return np.einsum("mng,ng->mn", partial.astype(np.float64), scales)
