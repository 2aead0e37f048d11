"""The packed weight layout the TVM kernels read: a linear weight's `QuantSpec` as
uint32 code words, per-group scales, and a value table per format.

Why this layout. A CPU kernel streams the weight once per GEMV, so the bytes it
reads are the packed codes and little else; the SIMD unpack must be a shift and a
mask per vector, and no element may straddle two words.

Codes. A b-bit code (b = 1..8; ternary is 2-bit) is split into *slices* of
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

A slice with more elements per word than words per block (e > B: W3's 2- and
1-bit slices at L = 128 have B = 8 and 4) is stored *in order* instead
("sequential": element r of the block in word r // e, bits (r % e)*c), so a
vector of 16 consecutive elements reads one word, broadcast, shifted per lane
(`vpsrlvd`), rather than a 4- or 8-lane vector. `slice_order` says which.

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

Integer layouts. The layout above ("blocked") feeds the float kernels. The
integer-accumulating kernels (`int_kernels`, `lut`) read one of two others, which
hold integer formats as *offset-binary* codes u = code XOR 2^(b-1) for signed
formats (u = code for unsigned), so that w = (u - offset) * scale with offset =
2^(b-1) (signed) or 0, plus the zero point; u >= 0 is what VNNI's unsigned byte
operand and a table index need. "vnni" also holds formats of <= 4 bits whose
values are integers after one multiplier of 1, 2 or 4, up to 4 of them mixed
per group (FP4 E2M1 x 2 = -12..12, flint4, BitMoD's members: `IntegerTable`):
their canonical codes are stored as they are and the kernel looks each up in a
byte table, multiplier * value + offset, the scale divided by the multiplier.
"lut" also holds one such format whose bytes are linear in the code, step * u
(every 1-bit format: binary {0, 1} has step 1, BitNet's bipolar {-1, +1} step 2
and offset 1): its planes then weigh step * 2^i (`PackedWeight.lut_step`).
Rows come in tiles of 16 (one
uint32 lane per row of a 512-bit vector), K in chunks of 32 (K_pad and the group
a multiple of 32), each slice or plane a uint32 array [N/16, K_pad * c / 32, 16]::

    "vnni" (int_kernels): slices as above, c-bit fields; a lane's 4 bytes are 4
    consecutive k (vpdpbusd's quad), field j of each byte the j-th quad:
        element k of word w:  q = k // 4,  t = k % 4,  word = q // (8/c)
        bits [8t + c*(q % (8/c)), +c)             c = 4, one lane:
        byte 3      | byte 2      | byte 1      | byte 0
        k=7 | k=3   | k=6 | k=2   | k=5 | k=1   | k=4 | k=0      (hi | lo nibble)

    "lut" (lut): one 1-bit plane per code bit, bit i of u in plane i; a lane's
    byte j holds the 4-bit index of activation group j (k = 4j .. 4j+3, bit t =
    element 4j+t) in its low nibble and of group j+4 in its high nibble:
        element k (of 32 per word):  bit 8*((k % 16) // 4) + 4*(k // 16) + k % 4
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats.registry import get_format
from bitsmith.ir.formats.spec import QuantSpec

WORD_BITS = 32
MAX_LANES = 16  # uint32 words in one 512-bit vector
TILE_ROWS = 16  # rows per tile in the integer layouts: one uint32 lane each
CHUNK = 32  # K granularity of the integer layouts (elements of one 1-bit word)
LAYOUTS = ("blocked", "vnni", "lut")


class PackingError(BitsmithError):
    """A quantised weight the packed layout cannot hold; names the weight and why."""


def slice_widths(bits: int) -> tuple[int, ...]:
    """Power-of-two slice widths of a `bits`-bit code, widest first (7 -> 4, 2, 1)."""
    if not 1 <= bits <= 8:
        raise ValueError(f"packed codes have 1..8 bits, got {bits}")
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
    layout: str = "blocked"  # one of LAYOUTS (module docstring)

    @property
    def planes(self) -> tuple[int, ...]:
        """Bit width of each array in `slices`: the slice widths, or 1 per bit-plane."""
        return (1,) * self.bits if self.layout == "lut" else self.widths

    @cached_property
    def integer_table(self) -> IntegerTable | None:
        """For non-integer formats whose values are integers after one power-of-two
        multiplier (FP4 E2M1 x 2, BitMoD's members), the table the "vnni" kernel
        looks codes up in; None otherwise."""
        return None if self.arithmetic else integer_table(self.table, self.bits)

    @cached_property
    def lut_step(self) -> int | None:
        """What a unit of the code u adds on the "lut" path's bit-planes (plane i
        weighs step * 2^i): 1 for an integer format; for one format whose
        integer table is linear in the code (every 1-bit format, evenly spaced
        grids), its step; None when planes cannot express the values."""
        return 1 if self.arithmetic else linear_step(self.table, self.bits)

    @property
    def code_xor(self) -> int:
        """What the integer layouts XOR a canonical code with to store it (u)."""
        return 1 << (self.bits - 1) if self.arithmetic == "signed" else 0

    @property
    def offset(self) -> int:
        """What the integer kernels subtract from u (or from its table value)."""
        return self.integer_table.offset if self.integer_table else self.code_xor

    @property
    def widths(self) -> tuple[int, ...]:
        return slice_widths(self.bits)

    @property
    def k_padded(self) -> int:
        return self.scales.shape[1] * self.group

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
        if self.layout != "blocked":  # per row tile, the 16 rows' values in one vector
            out = {f"plane{i}" if self.layout == "lut" else f"codes{c}": words
                   for i, (c, words) in enumerate(zip(self.planes, self.slices, strict=True))}
            table = self.integer_table
            per_tile = {"scales": self.scales / np.float32(table.multiplier) if table else self.scales,
                        "format_select": (self.format_ids.astype(np.uint32) * np.uint32(0x10101010)
                                          if table and len(self.formats) > 1 else None),
                        "zero_points": self.zero_points}
            for key, value in per_tile.items():
                if value is not None:
                    out[key] = np.ascontiguousarray(value.reshape(-1, TILE_ROWS, self.groups).transpose(0, 2, 1))
            return out
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


def pack_weight(spec: QuantSpec, name: str, *, lanes: int = MAX_LANES, layout: str = "blocked") -> PackedWeight:
    """Pack a 2-D linear weight's spec (groups along K, either axis) for the kernels.
    `lanes` caps the words per block of the narrowest slice (the kernel's vector
    width, "blocked" only); it is lowered until a block fits the group. `layout`
    is one of LAYOUTS; the integer layouts raise `PackingError` for what they
    cannot hold (non-integer formats, N not a multiple of 16, groups not a
    multiple of 32), so a caller can fall back to "blocked"."""
    where = f"weight {name}"
    if layout not in LAYOUTS:
        raise PackingError(f"{where}: unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if spec.shape_only:
        raise PackingError(f"{where}: shape-only (no codes to pack)")
    if len(spec.shape) != 2:
        raise PackingError(f"{where}: packs 2-D linear weights, got shape {list(spec.shape)}")
    if spec.outlier_format:
        raise PackingError(f"{where}: {spec.scheme} has an outlier side-table; no TVM kernel handles outliers")
    bits = spec.element_bits
    if not 1 <= bits <= 8:
        raise PackingError(f"{where}: {bits}-bit codes; the packed layout holds 1..8 bits")
    k = spec.shape[spec.axis]
    n = spec.shape[1 - spec.axis]
    integer = layout != "blocked"
    c_min = slice_widths(bits)[-1]
    if spec.granularity == "group":
        group = spec.group_size
        if integer:
            block = CHUNK
        else:
            lanes = _fit_lanes(group, c_min, lanes)
            if lanes == 0:
                raise PackingError(f"{where}: group size {group} is not a multiple of {WORD_BITS // c_min} "
                                   f"elements, the smallest block of {bits}-bit codes")
            block = lanes * WORD_BITS // c_min
        k_pad = k
    else:
        block = CHUNK if integer else _least_padding_block(k, c_min, lanes)
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
    if integer:
        _check_integer_layout(spec, n, where, layout, table)
    packed = PackedWeight(name=name, n=n, k=k, bits=bits, block=block, group=group, slices=(), scales=scales,
                          format_ids=format_ids, table=table,
                          zero_points=None if zero_points is None else zero_points.astype(np.float32),
                          formats=spec.formats, layout=layout)
    if not integer:
        slices = tuple(_pack_slice(codes, c, off, block) for c, off in _slice_offsets(bits))
    else:
        u = codes ^ np.uint8(packed.code_xor)
        fields = [(c, off) for c, off in _slice_offsets(bits)] if layout == "vnni" else [(1, i) for i in range(bits)]
        slices = tuple(_pack_tiles((u >> np.uint8(off)) & np.uint8((1 << c) - 1), _bit_positions(layout, c))
                       for c, off in fields)
    return replace(packed, slices=slices)


def unpack_codes(packed: PackedWeight) -> np.ndarray:
    """The canonical codes, uint8 [N, K]: the inverse of the packing."""
    codes = np.zeros((packed.n, packed.k_padded), np.uint8)
    if packed.layout == "blocked":
        for (c, off), words in zip(_slice_offsets(packed.bits), packed.slices, strict=True):
            w, shifts = _block_view(words.reshape(packed.n, -1), c, packed.block)
            part = ((w >> shifts) & np.uint32((1 << c) - 1)).astype(np.uint8)
            codes |= part.reshape(packed.n, -1) << np.uint8(off)
        return codes[:, : packed.k]
    offsets = np.cumsum((0, *packed.planes))[:-1]
    for c, off, words in zip(packed.planes, offsets, packed.slices, strict=True):
        positions = _bit_positions(packed.layout, c).astype(np.uint32)
        tiles = words[:, :, None, :] >> positions[None, None, :, None]  # [NT, W, E, 16]
        part = (tiles & np.uint32((1 << c) - 1)).astype(np.uint8).transpose(0, 3, 1, 2).reshape(packed.n, -1)
        codes |= part << np.uint8(off)
    return (codes ^ np.uint8(packed.code_xor))[:, : packed.k]


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


def slice_order(c: int, block: int) -> str:
    """'interleaved' or 'sequential' for a c-bit slice in blocks of `block`
    elements: whichever gives the longer vector of uniform unpacking (max(B, e))."""
    per_word = WORD_BITS // c
    return "sequential" if per_word > block // per_word else "interleaved"


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


def _block_view(words: np.ndarray, c: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """A slice's words [N, W] and the shifts that, broadcast together, give its
    fields in element order: [N, blocks, per_word, B] (interleaved) or
    [N, blocks, B, per_word] (sequential), each reshaping to [N, K_pad]."""
    per_word = WORD_BITS // c
    lanes = block // per_word
    shifts = np.arange(per_word, dtype=np.uint32) * np.uint32(c)
    if slice_order(c, block) == "sequential":
        return words.reshape(words.shape[0], -1, lanes, 1), shifts.reshape(1, 1, 1, per_word)
    return words.reshape(words.shape[0], -1, 1, lanes), shifts.reshape(1, 1, per_word, 1)


def _pack_slice(codes: np.ndarray, c: int, off: int, block: int) -> np.ndarray:
    """Bits [off, off+c) of every code as uint32 words in the slice's order."""
    n, k_pad = codes.shape
    per_word = WORD_BITS // c
    lanes = block // per_word
    part = ((codes >> np.uint8(off)) & np.uint8((1 << c) - 1)).astype(np.uint32)
    if slice_order(c, block) == "sequential":
        part = part.reshape(n, k_pad // block, lanes, per_word)
        return np.bitwise_or.reduce(part << np.arange(per_word, dtype=np.uint32) * np.uint32(c), axis=3).reshape(n, -1)
    part = part.reshape(n, k_pad // block, per_word, lanes)
    shifts = (np.arange(per_word, dtype=np.uint32) * c).reshape(1, 1, per_word, 1)
    return np.bitwise_or.reduce(part << shifts, axis=2).reshape(n, -1)


@dataclass(frozen=True)
class IntegerTable:
    """Integer-valued formats for the "vnni" kernel: code c of format f stands
    for values[16 f + c] = multiplier * value + offset, a byte (module docstring)."""

    multiplier: int
    offset: int
    values: tuple[int, ...]  # uint8, 16 per format


def integer_table(table: np.ndarray, bits: int) -> IntegerTable | None:
    """The `IntegerTable` of a packed value table [formats, 2^bits], or None when
    some value is not an integer after x1, x2 or x4, the byte range is exceeded,
    or there are more than 4 formats or 4 bits (one 64-byte vpermb table)."""
    if bits > 4 or len(table) > 4:
        return None
    for multiplier in (1, 2, 4):
        scaled = table.astype(np.float64) * multiplier
        if np.array_equal(scaled, np.rint(scaled)) and scaled.max() - scaled.min() <= 255:
            offset = -int(scaled.min())
            values = np.zeros((len(table), 16), np.int64)
            values[:, : table.shape[1]] = scaled + offset
            return IntegerTable(multiplier, offset, tuple(int(v) for v in values.reshape(-1)))
    return None


def linear_step(table: np.ndarray, bits: int) -> int | None:
    """For one format whose `IntegerTable` bytes are step * u for every code u
    (and step * 2^(bits-1) fits a byte, vpdpbusd's unsigned operand), step."""
    integer = integer_table(table, bits)
    if integer is None or len(table) != 1:
        return None
    step = integer.values[1]
    linear = all(v == step * u for u, v in enumerate(integer.values[: 1 << bits]))
    return step if linear and step << (bits - 1) < 256 else None


def _check_integer_layout(spec: QuantSpec, n: int, where: str, layout: str, table: np.ndarray) -> None:
    """Raise unless the integer layouts can hold the weight (module docstring)."""
    fmt = get_format(spec.formats[0])
    single_int = len(spec.formats) == 1 and fmt.family == "int"
    held_by_tables = linear_step if layout == "lut" else integer_table
    if not single_int and held_by_tables(table, spec.element_bits) is None:
        held = ("one integer format or one table linear in the code" if layout == "lut"
                else "one integer format or integer-valued tables")
        raise PackingError(f"{where}: the {layout} layout holds {held}, got {'+'.join(spec.formats)}")
    if n % TILE_ROWS:
        raise PackingError(f"{where}: the {layout} layout needs N a multiple of {TILE_ROWS}, got {n}")
    if spec.granularity == "group" and spec.group_size % CHUNK:
        raise PackingError(f"{where}: the {layout} layout needs groups of a multiple of {CHUNK}, "
                           f"got {spec.group_size}")


def _bit_positions(layout: str, c: int) -> np.ndarray:
    """Bit position, in its uint32 lane, of each of the 32/c elements a word holds."""
    e = np.arange(WORD_BITS // c)
    if layout == "vnni":
        return 8 * (e % 4) + c * (e // 4)
    return 8 * ((e % 16) // 4) + 4 * (e // 16) + e % 4


def _pack_tiles(fields: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """uint8 fields [N, K_pad] as the integer layouts' words [N/16, K_pad/E, 16]."""
    n, k_pad = fields.shape
    per_word = len(positions)
    part = fields.astype(np.uint32).reshape(n // TILE_ROWS, TILE_ROWS, k_pad // per_word, per_word)
    words = np.bitwise_or.reduce(part << positions.astype(np.uint32), axis=3)
    return np.ascontiguousarray(words.transpose(0, 2, 1))
