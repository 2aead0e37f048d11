"""The packed weight layout the TVM kernels read: a linear weight's `QuantSpec` as
uint32 code words, per-group scales, and a value table per format.

Why this layout. A CPU kernel streams the weight once per GEMV, so the bytes it
reads are the packed codes and little else; the SIMD unpack must be a shift and a
mask with the same shift in every lane, and no element may straddle two words.

Codes. A b-bit code (b = 2..8; ternary is 2-bit) is split into *slices* of
power-of-two widths, the binary digits of b: 8 = [8], 4 = [4], 2 = [2], 3 = [2, 1],
5 = [4, 1], 6 = [4, 2], 7 = [4, 2, 1] (llama.cpp's q3_K keeps a 3-bit code the same
way: low bits and a high bit-plane apart). Slice s has width c, offset `off` (the
sum of the widths before it) and e = 32/c elements per word; it holds bits
[off, off+c) of every code. Along K the elements come in *blocks* of L (`block`)
elements; slice s stores a block in B = L/e consecutive words ("interleaved": lane
w of a block's words holds elements w, w+B, w+2B, ...), so one vector of B words
unpacks into B consecutive elements with one uniform shift::

    element (n, k):  blk = k // L,  r = k % L,  j = r // B,  w = r % B
        word = slices[s][n, blk*B + w]
        bits [j*c, j*c + c) of word  ->  bits [off, off + c) of code(n, k)

    c = 4, L = 128, B = 16; word w of block blk (k relative to blk*128):
        bit 31..28 | 27..24 | ... | 7..4   | 3..0
        k = 112+w  | 96+w   | ... | 16+w   | w

Groups. Per group of `group` elements along K (a multiple of L, so a block never
straddles two groups): `scales` float32 [N, G], `format_ids` uint8 [N, G] into
`table`, and for asymmetric integers `zero_points` float32 [N, G]. `table` is
float32 [formats, 2^b]: the value of every code of every format in the spec's
format table. A weight then means

    w[n, k] = (table[format_ids[n, g], code(n, k)] - zero_points[n, g]) * scales[n, g]

with g = k // group: exactly `QuantSpec.dequantize()` (float32 scales and table).
Integer formats need no table: the kernel sign-extends the code (`arithmetic`).

Padding. K is padded to K_pad, a multiple of L, with code 0 in the padding; the
kernel pads the activations with zeros, so padding adds nothing. Channel and
tensor granularity become one group of K_pad. A group size that is not a multiple
of the smallest block (32/c_min elements) cannot be held: `PackingError`.

Canonical codes. A symmetric INT's reserved code (-2^(b-1), which the quantiser
never writes and which decodes to -(2^(b-1)-1)) is stored as the code of that
value, so the arithmetic decode is exact; `unpack_codes` returns canonical codes.
Two-level scales are folded into `scales` (channel scale x scale code, in float64,
then rounded to float32). OliVe outlier side-tables have no kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.spec import QuantSpec

WORD_BITS = 32
MAX_LANES = 16  # uint32 words in one 512-bit vector


class PackingError(BitsmithError):
    """A quantised weight the packed layout cannot hold; names the weight and why."""


def slice_widths(bits: int) -> tuple[int, ...]:
    """Power-of-two slice widths of a `bits`-bit code, widest first (7 -> 4, 2, 1)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"packed codes have 2..8 bits, got {bits}")
    return tuple(1 << p for p in (3, 2, 1, 0) if bits & (1 << p))


@dataclass(frozen=True, eq=False)
class PackedWeight:
    """A linear weight [N, K] in the packed layout (module docstring)."""

    name: str
    n: int
    k: int
    bits: int
    block: int  # L: elements per block along K
    group: int  # elements per scale group along K (a multiple of `block`)
    slices: tuple[np.ndarray, ...]  # uint32 [N, K_pad * c / 32] per slice width
    scales: np.ndarray  # float32 [N, G]
    format_ids: np.ndarray  # uint8 [N, G]
    table: np.ndarray  # float32 [formats, 2^bits]
    zero_points: np.ndarray | None  # float32 [N, G], asymmetric integers only
    formats: tuple[str, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        return slice_widths(self.bits)

    @property
    def k_padded(self) -> int:
        return self.slices[0].shape[1] * WORD_BITS // self.widths[0]

    @property
    def groups(self) -> int:
        return self.scales.shape[1]

    @cached_property
    def arithmetic(self) -> str | None:
        """'signed' or 'unsigned' when one integer format decodes by sign
        extension (or as is), so the kernel needs no table; None otherwise."""
        if len(self.formats) != 1 or get_format(self.formats[0]).family != "int":
            return None
        return "signed" if get_format(self.formats[0]).signed else "unsigned"

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a kernel takes, by parameter name, in its argument order."""
        out = {f"codes{c}": words for c, words in zip(self.widths, self.slices, strict=True)}
        out["scales"] = self.scales
        if self.arithmetic is None:
            out["format_ids"] = self.format_ids
            out["table"] = self.table
        if self.zero_points is not None:
            out["zero_points"] = self.zero_points
        return out

    @property
    def nbytes(self) -> int:
        """Bytes a GEMV streams: the arrays the kernel reads."""
        return sum(a.nbytes for a in self.arrays().values())


def pack_weight(spec: QuantSpec, name: str, *, lanes: int = MAX_LANES) -> PackedWeight:
    """Pack a 2-D linear weight's spec (groups along K, either axis) for the kernels.
    `lanes` caps the words per block of the narrowest slice (the kernel's vector
    width); it is lowered until a block fits the group."""
    where = f"weight {name}"
    if spec.shape_only:
        raise PackingError(f"{where}: shape-only (no codes to pack)")
    if len(spec.shape) != 2:
        raise PackingError(f"{where}: packs 2-D linear weights, got shape {list(spec.shape)}")
    if spec.outlier_format:
        raise PackingError(f"{where}: {spec.scheme} has an outlier side-table; no TVM kernel handles outliers")
    bits = spec.element_bits
    if not 2 <= bits <= 8:
        raise PackingError(f"{where}: {bits}-bit codes; the packed layout holds 2..8 bits")
    k = spec.shape[spec.axis]
    n = spec.shape[1 - spec.axis]
    c_min = slice_widths(bits)[-1]
    if spec.granularity == "group":
        group = spec.group_size
        lanes = _fit_lanes(group, c_min, lanes)
        if lanes == 0:
            raise PackingError(f"{where}: group size {group} is not a multiple of {WORD_BITS // c_min} elements, "
                               f"the smallest block of {bits}-bit codes")
        block = lanes * WORD_BITS // c_min
        k_pad = k
    else:
        block = _least_padding_block(k, c_min, lanes)
        k_pad = -(-k // block) * block
        group = k_pad
    groups = k_pad // group
    codes = np.zeros((n, k_pad), np.uint8)
    codes[:, :k] = np.moveaxis(spec.codes, spec.axis, -1).reshape(n, k)
    per_group = {name_: _per_group(getattr(spec, name_), n, groups) for name_ in ("format_ids", "zero_points")}
    format_ids = per_group["format_ids"]
    scales = _per_group(spec.effective_scales(), n, groups).astype(np.float32)
    zero_points = per_group["zero_points"]
    codes = _canonical(codes, np.repeat(format_ids, group, axis=1), spec.formats)
    table = np.zeros((len(spec.formats), 1 << bits), np.float32)
    for i, fmt in enumerate(spec.formats):
        values = get_format(fmt).values
        table[i, : len(values)] = values
    slices = tuple(_pack_slice(codes, c, off, block) for c, off in _slice_offsets(bits))
    return PackedWeight(name=name, n=n, k=k, bits=bits, block=block, group=group, slices=slices, scales=scales,
                        format_ids=format_ids, table=table,
                        zero_points=None if zero_points is None else zero_points.astype(np.float32),
                        formats=spec.formats)


def unpack_codes(packed: PackedWeight) -> np.ndarray:
    """The canonical codes, uint8 [N, K]: the inverse of the packing."""
    codes = np.zeros((packed.n, packed.k_padded), np.uint8)
    for (c, off), words in zip(_slice_offsets(packed.bits), packed.slices, strict=True):
        per_word = WORD_BITS // c
        lanes = packed.block // per_word
        w = words.reshape(packed.n, -1, 1, lanes)
        shifts = (np.arange(per_word, dtype=np.uint32) * c).reshape(1, 1, per_word, 1)
        part = ((w >> shifts) & np.uint32((1 << c) - 1)).astype(np.uint8)
        codes |= part.reshape(packed.n, -1) << np.uint8(off)
    return codes[:, : packed.k]


def dequantize_packed(packed: PackedWeight) -> np.ndarray:
    """The weight [N, K] (float64) the kernel computes with, from the packed arrays
    alone: what `QuantSpec.dequantize()` gives, to float32 rounding of the table
    and scales."""
    codes = unpack_codes(packed).astype(np.intp)
    fids = np.repeat(packed.format_ids, packed.group, axis=1)[:, : packed.k].astype(np.intp)
    values = packed.table.astype(np.float64)[fids, codes]
    if packed.zero_points is not None:
        values -= np.repeat(packed.zero_points, packed.group, axis=1)[:, : packed.k]
    return values * np.repeat(packed.scales.astype(np.float64), packed.group, axis=1)[:, : packed.k]


def _fit_lanes(group: int, c_min: int, lanes: int) -> int:
    """The largest power of two <= lanes whose block (lanes words of the narrowest
    slice) divides `group`; 0 when not even one word does."""
    while lanes and group % (lanes * WORD_BITS // c_min):
        lanes //= 2
    return lanes


def _least_padding_block(k: int, c_min: int, lanes: int) -> int:
    """The block (a power-of-two number of words <= lanes) that pads K least,
    the widest among equals: 4096 -> 16 words, K = 172 at 4 bits -> 2 words."""
    blocks = [(1 << p) * WORD_BITS // c_min for p in range(lanes.bit_length())]
    return min(blocks, key=lambda b: (-(-k // b) * b, -b))


def _slice_offsets(bits: int) -> list[tuple[int, int]]:
    """(width, bit offset in the code) of every slice, the low bits in the widest."""
    out, off = [], 0
    for c in slice_widths(bits):
        out.append((c, off))
        off += c
    return out


def _per_group(array: np.ndarray | None, n: int, groups: int) -> np.ndarray | None:
    """A per-group array as [N, groups]: tensor granularity's single group is
    broadcast to every row, a channel's one group per row is kept."""
    if array is None:
        return None
    return np.ascontiguousarray(np.broadcast_to(array, (n, groups)))


def _canonical(codes: np.ndarray, fids: np.ndarray, formats: tuple[str, ...]) -> np.ndarray:
    """Codes with every reserved code replaced by the unreserved code of equal value."""
    remap = np.tile(np.arange(256, dtype=np.uint8), (len(formats), 1))
    for i, name in enumerate(formats):
        fmt = get_format(name)
        for code in fmt.reserved:
            equal = [c for c in range(1 << fmt.bits) if c not in fmt.reserved and fmt.table[c] == fmt.table[code]]
            remap[i, code] = equal[0]
    return remap[fids, codes]


def _pack_slice(codes: np.ndarray, c: int, off: int, block: int) -> np.ndarray:
    """Bits [off, off+c) of every code as uint32 words in the interleaved order."""
    n, k_pad = codes.shape
    per_word = WORD_BITS // c
    lanes = block // per_word
    part = ((codes >> np.uint8(off)) & np.uint8((1 << c) - 1)).astype(np.uint32)
    part = part.reshape(n, k_pad // block, per_word, lanes)
    shifts = (np.arange(per_word, dtype=np.uint32) * c).reshape(1, 1, per_word, 1)
    return np.bitwise_or.reduce(part << shifts, axis=2).reshape(n, -1)
