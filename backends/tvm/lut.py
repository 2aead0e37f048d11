"""T-MAC-style table-lookup GEMV/GEMM for 1-8-bit integer weights (FACTS §3):
the integer kernel skeleton of `int_kernels` with tables instead of int8
activations as its integer operand ("lut" layout, `packing`).

Why. A b-bit weight is a sum of b bit-planes, w = sum_i 2^i * bit_i(u) - offset
(times the table step for a 1-bit or evenly spaced table format: `packing`).
For a group of g = 4 activations the 16 sums T[idx] = sum_t bit_t(idx) * x_t
cover every bit pattern, so 4 weights of one plane cost one table lookup: the
work is linear in the weight bits (T-MAC), where the VNNI path's is constant.

Tables. Per block of 32 activations (8 groups), the 8 x 16 float entries are
built as vectors over idx (T = sum_t bit_t(idx) * x_t, highest t first, the
order of `lut_tables`' incremental build T[idx] = T[idx without its lowest bit]
+ x_lowest, so both round alike) and quantised to int8 with one scale, t = max|T| / 127 (T-MAC's int8 tables with
`LUT_Scales`); this rounding of the partial sums is the path's approximation,
a little coarser than rounding the activations themselves (`int_kernels`). The
offset is corrected with the tables' own all-ones entries, C = sum t * T[15]
(T-MAC's `LUT_Biases`), so `lut_tables` in numpy reproduces the kernel exactly.
Tables of 4 consecutive groups (16 activations) make one 64-byte vector.

Lookup. AVX-512 VBMI's `vpermb` indexes a whole 64-byte vector, so one
instruction looks up 16 rows x 4 groups: lane r's byte j holds the 4-bit index
of group j (the layout's low or high nibble, masked) with j placed in bits 4-5
(OR 0x30201000), i.e. table j. `vpdpbusd` with the constant 2^i as its unsigned
operand then sums a lane's 4 lookups, times 2^i, into its int32 accumulator:
per plane and 16 rows x 16 activations, a shift, a ternary logic op, vpermb and
vpdpbusd. (T-MAC's AVX2 kernel uses `vpshufb`, 16-entry tables per 128-bit
lane, and int16 adds.) Symmetric tables (T[~idx] = -T[idx]) would halve the
build, but it is ~3 us of a ~150 us 4096 x 4096 GEMV here, so all 16 entries
are built.
"""

from __future__ import annotations

import numpy as np
from tvm import tirx
from tvm.tirx.script.builder import ir as T

from bitsmith.backends.tvm.int_kernels import (
    VPERMB,
    Args,
    Operand,
    broadcast,
    dpbusd,
    padded,
    put,
    store,
    vec,
    zeros,
)
from bitsmith.backends.tvm.packing import CHUNK

G = 4  # activations per table
ENTRIES = 1 << G
GROUPS_PER_BLOCK = CHUNK // G  # 8 tables per activation block
TABLE_SELECT = 0x30201000  # byte j of a lane reads table j of the 64-byte vector
VPERMPS = "llvm.x86.avx512.permvar.sf.512"  # 16 float32 lanes indexed by 16 int32 (AVX-512F)


def lut_tables(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's int8 tables and their scales, in numpy: x float32 [M, K_pad]
    -> (int8 [M, K_pad/4, 16], float32 [M, K_pad/32]); entry idx of group h is
    rint(sum_t bit_t(idx) * x[4h + t] / t_block) (module docstring)."""
    groups = x.astype(np.float32).reshape(x.shape[0], -1, G)
    entries = np.zeros((*groups.shape[:2], ENTRIES), np.float32)
    for idx in range(1, ENTRIES):
        low = (idx & -idx).bit_length() - 1
        entries[..., idx] = entries[..., idx & (idx - 1)] + groups[..., low]
    blocks = entries.reshape(x.shape[0], -1, GROUPS_PER_BLOCK * ENTRIES)
    amax = np.abs(blocks).max(axis=-1)
    inv = np.divide(np.float32(127), amax, out=np.zeros_like(amax), where=amax > 0)
    tables = np.rint(blocks * inv[..., None]).astype(np.int8).reshape(entries.shape)
    return tables, amax / np.float32(127)


def _bit_mask(t: int):
    """float32x16: lane idx is bit t of idx (1.0 or 0.0), so a group's 16 entries
    are sum_t mask_t * x_t, one vector multiply-add per activation."""
    return tirx.Shuffle([tirx.const(float((idx >> t) & 1), "float32") for idx in range(ENTRIES)],
                        [tirx.IntImm("int32", i) for i in range(ENTRIES)])


def _entries(x, m, group, k: int, k_padded: int):
    """float32x16: the 16 sums of activation group `group` of row m (entry idx =
    sum_t bit_t(idx) * x_t, highest t first, as `lut_tables` adds)."""
    row = broadcast(T.float32(0))
    for t in reversed(range(G)):
        row = row + _bit_mask(t) * broadcast(padded(x, m, group * G + t, k, k_padded))
    return row


def lut_operand(shape, args: Args) -> Operand:
    """The table operand of the integer kernel skeleton (module docstring)."""
    m_count, k, kp = shape.m, shape.k, shape.k_padded
    tables = T.alloc_buffer((m_count, kp // (4 * G), 4 * ENTRIES), "int8")

    def prologue(x, xs, corr) -> None:
        with T.serial(0, m_count) as m, T.serial(0, kp // CHUNK) as b:
            entries = T.alloc_buffer((GROUPS_PER_BLOCK, ENTRIES), "float32", scope="local")
            peak = zeros((1, ENTRIES), "float32")
            with T.serial(0, GROUPS_PER_BLOCK) as h:
                row = _entries(x, m, b * GROUPS_PER_BLOCK + h, k, kp)
                store(entries, row, h)
                store(peak, T.max(vec(peak, 0), T.abs(row)), 0)
            amax = zeros((1,), "float32")
            with T.serial(0, ENTRIES) as idx:
                put(amax, T.max(amax[0], peak[0, idx]), 0)
            inv = T.if_then_else(amax[0] > T.float32(0), T.float32(127) / amax[0], T.float32(0))
            ones = zeros((1,), "int32")
            with T.serial(0, GROUPS_PER_BLOCK) as h:
                quantised = T.Cast("int8x16", T.nearbyint(vec(entries, h) * broadcast(inv)))
                store(tables, quantised, m, b * 2 + h // 4, start=(h % 4) * ENTRIES)
                put(ones, ones[0] + T.Cast("int32", tables[m, b * 2 + h // 4, (h % 4) * ENTRIES + ENTRIES - 1]), 0)
            put(xs, amax[0] / T.float32(127), m, b)
            g = b * CHUNK // shape.group
            put(corr, corr[m, g] + xs[m, b] * T.Cast("float32", ones[0]), m, g)

    def body(nts, m, b) -> list:
        dots = [broadcast(T.int32(0))] * len(nts)
        low_nibbles = broadcast(T.uint32(0x0F0F0F0F))
        select = broadcast(T.uint32(TABLE_SELECT))
        for half in range(2):  # 16 activations each: the low, then the high nibbles
            table = vec(tables, m, b * 2 + half, lanes=4 * ENTRIES)
            for i, plane in enumerate(args.weights):
                weight = broadcast(T.uint32((shape.plane_step << i) * 0x01010101))
                for j, nt in enumerate(nts):
                    word = vec(plane, nt, b)
                    nibbles = (word >> broadcast(T.uint32(4 * half)) if half else word) & low_nibbles
                    index = T.reinterpret("int8x64", nibbles | select)
                    looked = tirx.call_llvm_pure_intrin("int8x64", VPERMB, table, index)
                    dots[j] = dpbusd(dots[j], weight, T.reinterpret("uint32x16", looked))
        return dots

    return Operand(prologue, body)


def lut_float_operand(shape, args: Args) -> Operand:
    """Float tables (the "lut-f32" path): the same bit-planes, each group's 16
    float32 sums looked up with `vpermps` (16 rows per instruction) and added
    times step * 2^i, so the result is exact up to float32 summation order.
    The offset is corrected with the all-ones entries, sum x."""
    m_count, k, kp = shape.m, shape.k, shape.k_padded
    groups = kp // G
    tables = T.alloc_buffer((m_count, groups, ENTRIES), "float32")

    def prologue(x, _xs, corr) -> None:
        with T.serial(0, m_count) as m, T.serial(0, groups) as h:
            store(tables, _entries(x, m, h, k, kp), m, h)
            g = h * G // shape.group
            put(corr, corr[m, g] + tables[m, h, ENTRIES - 1], m, g)

    def body(nts, m, b) -> list:
        sums = [broadcast(T.float32(0))] * len(nts)
        for h in range(GROUPS_PER_BLOCK):  # the layout's byte h % 4, nibble h // 4 of each lane
            table = vec(tables, m, b * GROUPS_PER_BLOCK + h)
            shift = broadcast(T.uint32(8 * (h % 4) + 4 * (h // 4)))
            for i, plane in enumerate(args.weights):
                weight = broadcast(T.float32(shape.plane_step << i))
                for j, nt in enumerate(nts):
                    index = T.reinterpret("int32x16", (vec(plane, nt, b) >> shift) & broadcast(T.uint32(ENTRIES - 1)))
                    looked = tirx.call_llvm_pure_intrin("float32x16", VPERMPS, table, index)
                    sums[j] = sums[j] + weight * looked
        return sums

    return Operand(prologue, body, integer=False)
