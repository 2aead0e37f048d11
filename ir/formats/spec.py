"""`QuantSpec`: a quantised weight as data, the form the IR carries on a `Constant`.

A spec holds everything needed to reproduce the weight exactly, and nothing that
would need code to interpret:

- the **format table** `formats` (names in the registry) and, per group, a format
  id into it (`format_ids`), a float32 scale (`scales`) and, for asymmetric INT,
  a zero point (`zero_points`);
- per element a code (`codes`, uint8, the tensor's shape);
- optionally BitMoD's second-level scale quantisation: per row a float32
  `channel_scales` and per group a `scale_bits`-bit `scale_codes` (FACTS §1.1);
- optionally an **outlier side table**: flat positions (C order over the tensor)
  `outlier_index` whose values are `outlier_codes` in `outlier_format` times the
  group's scale, overriding the dense code there (OliVe's outlier-victim pairs,
  see `outliers.py`).

Layout. Groups run along `axis`; the other axes are flattened into rows, so
per-group arrays are `(rows, groups_per_row)`. Granularity "tensor" is one group,
"channel" one group per row, "group" `group_size` elements along the axis.

Meaning: value = (decode(code) - zero_point) * scale, with scale =
`channel_scales[row] * scale_codes[row, g]` when scale_bits is set; computed in
float64 (`dequantize`). A spec without arrays (`shape_only`) records only the
choice (scheme, formats, group size): what a shape-only weight of a large model
carries so the cost models know its bits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np

from bitsmith.ir.formats.bits import MX_SCALE_BITS, bits_per_weight
from bitsmith.ir.formats.registry import MIXTURES, get_format

GRANULARITIES = ("tensor", "channel", "group")
SCALE_RULES = ("absmax", "absmean", "mx", "olive")

# Array fields, their dtype, and whether the array is per group (rows, groups).
ARRAY_FIELDS: dict[str, np.dtype] = {
    "codes": np.dtype(np.uint8),
    "format_ids": np.dtype(np.uint8),
    "scales": np.dtype(np.float32),
    "zero_points": np.dtype(np.uint8),
    "scale_codes": np.dtype(np.uint8),
    "channel_scales": np.dtype(np.float32),
    "outlier_index": np.dtype(np.int64),
    "outlier_codes": np.dtype(np.uint8),
}
# Scale storage when there is no second-level quantisation: an FP16 scale per group,
# as GPTQ/AWQ-style checkpoints store it.
DEFAULT_SCALE_BITS = 16


@dataclass(frozen=True, eq=False)
class QuantSpec:
    """A quantised tensor (see the module docstring). `scheme` is the name it was
    quantised with (`int4`, `bitmod4`, `mxfp4`, `olive4`, ...), kept for reports."""

    scheme: str
    shape: tuple[int, ...]
    axis: int
    granularity: str
    group_size: int | None
    formats: tuple[str, ...]
    scale_rule: str = "absmax"
    asymmetric: bool = False
    scale_bits: int | None = None
    outlier_format: str | None = None
    codes: np.ndarray | None = field(default=None, repr=False)
    format_ids: np.ndarray | None = field(default=None, repr=False)
    scales: np.ndarray | None = field(default=None, repr=False)
    zero_points: np.ndarray | None = field(default=None, repr=False)
    scale_codes: np.ndarray | None = field(default=None, repr=False)
    channel_scales: np.ndarray | None = field(default=None, repr=False)
    outlier_index: np.ndarray | None = field(default=None, repr=False)
    outlier_codes: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "formats", tuple(self.formats))
        problem = self._check()
        if problem:
            raise ValueError(f"quant spec {self.scheme}: {problem}")
        for name in ARRAY_FIELDS:
            array = getattr(self, name)
            if array is not None:
                array = np.array(array, order="C", copy=None).view()
                array.setflags(write=False)
                object.__setattr__(self, name, array)

    # --- consistency ----------------------------------------------------------------
    def _check(self) -> str | None:
        """The first broken rule, as a phrase, or None."""
        ndim = len(self.shape)
        if ndim == 0 or any(d <= 0 for d in self.shape):
            return f"shape must be non-empty with positive sizes, got {list(self.shape)}"
        if not 0 <= self.axis < ndim:
            return f"axis {self.axis} out of range for shape {list(self.shape)} (stored axes are non-negative)"
        if self.granularity not in GRANULARITIES:
            return f"granularity must be one of {', '.join(GRANULARITIES)}, got {self.granularity!r}"
        if self.scale_rule not in SCALE_RULES:
            return f"scale_rule must be one of {', '.join(SCALE_RULES)}, got {self.scale_rule!r}"
        if (self.granularity == "group") != (self.group_size is not None):
            return "group_size is set exactly when granularity is 'group'"
        if self.group_size is not None and (self.group_size <= 0 or self.shape[self.axis] % self.group_size):
            return f"group size {self.group_size} does not divide axis length {self.shape[self.axis]}"
        if not self.formats or len(self.formats) > 256:
            return "needs 1..256 formats"
        for name in self.formats + ((self.outlier_format,) if self.outlier_format else ()):
            get_format(name)  # raises UnknownFormatError naming the valid formats
        if self.scale_bits is not None and not 1 <= self.scale_bits <= 8:
            return f"scale_bits must be 1..8, got {self.scale_bits}"
        if self.codes is None:
            present = [n for n in ARRAY_FIELDS if getattr(self, n) is not None]
            return f"a shape-only spec has no arrays, got {', '.join(present)}" if present else None
        return self._check_arrays()

    def _check_arrays(self) -> str | None:
        rows, groups = self.groups_shape
        expected: dict[str, tuple[int, ...] | None] = {
            "codes": self.shape, "format_ids": (rows, groups), "scales": (rows, groups),
            "zero_points": (rows, groups) if self.asymmetric else None,
            "scale_codes": (rows, groups) if self.scale_bits else None,
            "channel_scales": (rows,) if self.scale_bits else None,
        }
        n_out = None if self.outlier_index is None else self.outlier_index.shape
        expected["outlier_index"] = n_out if self.outlier_format else None
        expected["outlier_codes"] = n_out if self.outlier_format else None
        for name, shape in expected.items():
            array = getattr(self, name)
            if shape is None:
                if array is not None:
                    return f"{name} given but the spec does not use it"
                continue
            if array is None:
                return f"missing array {name}"
            if array.dtype != ARRAY_FIELDS[name] or array.shape != shape:
                return f"{name} is {array.dtype}{list(array.shape)}, expected {ARRAY_FIELDS[name]}{list(shape)}"
        if self.format_ids.size and int(self.format_ids.max()) >= len(self.formats):
            return f"format id {int(self.format_ids.max())} outside the table of {len(self.formats)}"
        if self.outlier_format and self.outlier_index.size:
            idx = self.outlier_index
            if idx.ndim != 1 or idx.min() < 0 or idx.max() >= math.prod(self.shape) or np.any(np.diff(idx) <= 0):
                return "outlier_index must be strictly increasing flat positions inside the tensor"
        return None

    # --- shape facts ----------------------------------------------------------------
    @property
    def shape_only(self) -> bool:
        return self.codes is None

    @cached_property
    def groups_shape(self) -> tuple[int, int]:
        """(rows, groups per row) of the per-group arrays."""
        length = self.shape[self.axis]
        rows = math.prod(self.shape) // length
        if self.granularity == "tensor":
            return 1, 1
        if self.granularity == "channel":
            return rows, 1
        return rows, length // self.group_size

    @property
    def group_length(self) -> int:
        """Elements sharing one scale."""
        if self.granularity == "tensor":
            return math.prod(self.shape)
        return self.shape[self.axis] if self.granularity == "channel" else self.group_size

    @property
    def element_bits(self) -> int:
        return max(get_format(n).bits for n in self.formats)

    def bits_per_weight(self, *, count_selector: bool | None = None) -> float:
        """Average stored bits per weight with metadata (bits.py's rule): element bits,
        plus per group its scale (E8M0 for MX, `scale_bits` when second-level
        quantised, else FP16), zero point, and the mixture selector,
        ceil(log2(formats)) bits, when `count_selector`. None follows the scheme: a
        named mixture (BitMoD's, ANT's) is not charged, as BitMoD's simulator charges
        only the group's scale code (FACTS §1.1: the selector is folded into it, POS
        vs NEG as the scale's sign); a `+`-joined mixture (`assign_dtypes`) has no
        such folding, so its selector is stored beside the scale and charged. The
        second-level FP16 per-row scale is spread over the row. OliVe's outliers
        live in-band in the victim's slot, so they cost nothing extra."""
        if self.scale_rule == "mx":
            scale = MX_SCALE_BITS
        else:
            scale = self.scale_bits or DEFAULT_SCALE_BITS
        if count_selector is None:
            count_selector = self.scheme not in MIXTURES
        selector = math.ceil(math.log2(len(self.formats))) if count_selector and len(self.formats) > 1 else 0
        zero_point = self.element_bits if self.asymmetric else 0
        bits = bits_per_weight(self.element_bits, self.group_length, scale, zero_point, selector)
        if self.scale_bits:  # the second level's FP16 scale, once per row
            bits += DEFAULT_SCALE_BITS * self.groups_shape[0] / math.prod(self.shape)
        return bits

    def without_data(self) -> QuantSpec:
        """The same choice with no arrays (what a shape-only weight carries)."""
        return dataclasses.replace(self, **dict.fromkeys(ARRAY_FIELDS))

    # --- values ---------------------------------------------------------------------
    def effective_scales(self) -> np.ndarray:
        """The scale each group dequantises with (float64, (rows, groups))."""
        self._need_data()
        if self.scale_codes is None:
            return self.scales.astype(np.float64)
        return self.channel_scales.astype(np.float64)[:, None] * self.scale_codes.astype(np.float64)

    def grouped_codes(self) -> np.ndarray:
        """Codes as (rows, groups, group length), the per-group view."""
        self._need_data()
        rows, groups = self.groups_shape
        return np.moveaxis(self.codes, self.axis, -1).reshape(rows, groups, -1)

    def dequantize(self) -> np.ndarray:
        """The exact values, float64, in the tensor's shape."""
        self._need_data()
        table = np.zeros((len(self.formats), 256), dtype=np.float64)
        for i, name in enumerate(self.formats):
            values = get_format(name).values
            table[i, : len(values)] = values
        flat = self.format_ids.astype(np.intp)[:, :, None] * 256 + self.grouped_codes()
        values = table.ravel()[flat]
        if self.zero_points is not None:
            values -= self.zero_points.astype(np.float64)[:, :, None]
        scales = self.effective_scales()
        values *= scales[:, :, None]
        moved = np.moveaxis(self.codes, self.axis, -1).shape
        out = np.moveaxis(values.reshape(moved), -1, self.axis)
        if self.outlier_format and self.outlier_index.size:
            out = np.ascontiguousarray(out)
            group_of = self.group_of(self.outlier_index)
            outlier_values = get_format(self.outlier_format).decode(self.outlier_codes)
            out.reshape(-1)[self.outlier_index] = outlier_values * scales.reshape(-1)[group_of]
        return out

    def group_of(self, flat_index: np.ndarray) -> np.ndarray:
        """Flat index of the group (into the (rows, groups) arrays) of each element."""
        rows, groups = self.groups_shape
        position = np.unravel_index(flat_index, self.shape)
        along = position[self.axis]
        others = [p for i, p in enumerate(position) if i != self.axis]
        other_shape = [d for i, d in enumerate(self.shape) if i != self.axis]
        row = np.ravel_multi_index(others, other_shape) if others else np.zeros_like(along)
        if self.granularity == "tensor":
            return np.zeros_like(along)
        return row * groups + (along // self.group_length if self.granularity == "group" else 0)

    def _need_data(self) -> None:
        if self.codes is None:
            raise ValueError(f"quant spec {self.scheme} is shape-only: it has no codes or scales")

    # --- identity -------------------------------------------------------------------
    def metadata(self) -> dict[str, object]:
        """The non-array fields, in declaration order (what the JSON form records)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ARRAY_FIELDS}

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays present, by field name."""
        return {n: getattr(self, n) for n in ARRAY_FIELDS if getattr(self, n) is not None}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantSpec):
            return NotImplemented
        if self.metadata() != other.metadata():
            return False
        mine, theirs = self.arrays(), other.arrays()
        return mine.keys() == theirs.keys() and all(
            mine[k].shape == theirs[k].shape and mine[k].tobytes() == theirs[k].tobytes() for k in mine)

    __hash__ = None  # type: ignore[assignment]

    def summary(self) -> str:
        """`bitmod4 group=128 axis=1`-style text, as the IR printer shows it;
        `quantize.spec_from_summary` reads it back as a shape-only spec."""
        parts = [self.scheme, f"group={self.group_size}" if self.granularity == "group" else self.granularity,
                 f"axis={self.axis}"]
        if self.asymmetric:
            parts.append("asym")
        if self.scale_rule != "absmax":
            parts.append(f"rule={self.scale_rule}")
        if self.scale_bits:
            parts.append(f"scale_bits={self.scale_bits}")
        return " ".join(parts)
