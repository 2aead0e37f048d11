"""Integer-accumulating GEMV/GEMM kernels over the integer layouts (`packing`):
activations become int8 per block of 32, weights stay integer codes, and the
dot products run on AVX-512 VNNI (`vpdpbusd`: 64 u8 x s8 products summed into
16 int32 lanes per instruction), as llama.cpp's q4_0 x q8_0 dot does.

Why. The float kernel (`kernels`) spends ~4 vector ops per 16 weights whatever
their width, so a 4096 x 4096 GEMV is compute-bound at ~1.4 ms. Here one
vpdpbusd (its activation quad broadcast from memory) and a shift-and-mask
unpack cover 64 weights (16 rows x 4 k): the loop streams its packed bytes.

Arithmetic. For row n, group g of the weight (offset-binary codes u, offset o,
zero point z, scale s) and activation blocks b of 32 (int8 values a, scale t):

    y[m, n] = sum_g s[n, g] * (D[m, n, g] - (o + z[n, g]) * C[m, g]) + bias[n]
    D[m, n, g] = sum_{b in g} t[m, b] * dot_b,    dot_b = sum_{k in b} u[n, k] * a[m, k]  (int32)
    C[m, g]    = sum_{b in g} t[m, b] * sum_{k in b} a[m, k]

so the offset and zero point cost one multiply-add per row and group (the
llama.cpp / T-MAC bias trick), and the integer sum is exact. The int8 activation
is a[k] = rint(x[k] * 127 / max|x_b|), t = max|x_b| / 127: the path's only
approximation. `quantize_activations` is the same arithmetic in numpy, so tests
compare against it exactly (up to float32 summation order).

Non-integer formats. Formats whose values are integers after a multiplier of
1, 2 or 4 (`packing.IntegerTable`: FP4 E2M1, flint4, BitMoD's mixtures) take
this path too: the 4-bit code bytes index a 64-byte table with `vpermb`
(AVX-512 VBMI; bits 4-5 of the index select a mixture's format per group),
one more instruction per 64 weights, as llama.cpp's IQ4_NL does with `pshufb`.
NF4 and other real-valued tables keep the float path (`kernels`).

Which integer operand the kernel feeds is pluggable (`Operand`): the int8
activations here, or the LUT path's int8 tables (`lut`), which share the
activation prologue's shape (per-block scale, int8 data, correction C) and
the epilogue above.

Schedule. A parallel task takes `KernelSchedule.rows` rows (tiles of 16, one
uint32 lane per row); its tiles run interleaved in the inner loop, so up to 8
independent vpdpbusd chains hide the instruction's latency. The tuning search
(`tuning`) picks the task size.

Why IRBuilder TIR, not TE + schedule primitives as in `kernels`: byte lanes of
a uint32 word and the llvm.x86 intrinsics are vector-level operations that TE's
scalar expressions cannot state, and TVM 0.27's registered `dot_16x4_vnni`
tensor intrinsic passes <16 x i32> operands where this LLVM declares vpdpbusd on
<64 x i8> (the "Call parameter type does not match" error a direct call with
int32x16 operands gives). The loop nest is written out, parallel and unrolled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import tirx
from tvm.script.ir_builder import IRBuilder
from tvm.tirx.script.builder import ir as T

from bitsmith.backends.tvm.packing import CHUNK, TILE_ROWS, slice_widths

VPDPBUSD = "llvm.x86.avx512.vpdpbusd.512"
VPERMB = "llvm.x86.avx512.permvar.qi.512"  # byte table lookup (AVX-512 VBMI)
LANES = TILE_ROWS  # int32 lanes of one 512-bit vector: one per row of a tile


def vec(buffer: tirx.Buffer, *index, start=0, lanes: int = LANES):
    """`lanes` consecutive elements of `buffer` along its last axis."""
    return buffer[(*index, tirx.Ramp(start, 1, lanes))]


def store(buffer: tirx.Buffer, value, *index, start=0, lanes: int = LANES) -> None:
    T.buffer_store(buffer, value, [*index, tirx.Ramp(start, 1, lanes)])


def broadcast(value, lanes: int = LANES):
    return T.broadcast(value, lanes)


def dpbusd(acc, unsigned_u32x16, signed_u32x16):
    """acc (int32x16) += per lane, the sum of the 4 byte products u8 x s8."""
    return tirx.call_llvm_pure_intrin("int32x16", VPDPBUSD, acc, T.reinterpret("int8x64", unsigned_u32x16),
                                      T.reinterpret("int8x64", signed_u32x16))


@dataclass(frozen=True)
class Operand:
    """What a kernel path adds to the common skeleton: `prologue(x, xs, corr)`
    emits the activation stage, filling the block scales xs[M, K/32] and adding
    to the corrections corr[M, G] (zeroed before); `body(nts, m, b)` returns, for
    each of the task's row tiles nts[i], the int32x16 expression of activation
    block `b` of row `m`'s integer dot products (a value, not a buffer: the chain
    stays in registers whatever else the loop calls). A float operand
    (`integer=False`: the LUT path's float tables) returns float32x16 sums that
    need no block scale, and leaves xs alone."""

    prologue: Callable
    body: Callable
    integer: bool = True


@dataclass(frozen=True)
class Args:
    """The kernel's buffers, in argument order: x, weight arrays, scales,
    [format_select], [zero_points], [bias], y."""

    x: tirx.Buffer
    weights: tuple[tirx.Buffer, ...]
    scales: tirx.Buffer
    format_select: tirx.Buffer | None
    zero_points: tirx.Buffer | None
    bias: tirx.Buffer | None
    y: tirx.Buffer


def integer_kernel(shape, rows: int, make_operand: Callable[[object, Args], Operand]) -> tvm.IRModule:
    """The kernel for `shape` (a `KernelShape` of an integer layout) with parallel
    tasks of `rows` rows, its integer accumulation supplied by `make_operand`."""
    m_count, n, kp, group = shape.m, shape.n, shape.k_padded, shape.group
    tiles_total, groups, blocks_per_group = n // TILE_ROWS, kp // group, group // CHUNK
    tiles = divisor_at_most(tiles_total, max(1, rows // TILE_ROWS))
    planes = (1,) * shape.bits if shape.layout == "lut" else slice_widths(shape.bits)
    with IRBuilder() as builder:
        with T.prim_func():
            T.func_name("main")
            T.func_attr({"global_symbol": "main", "tirx.noalias": True})
            args = _arguments(shape, planes, groups)
            operand = make_operand(shape, args)
            xs = T.alloc_buffer((m_count, kp // CHUNK), "float32")
            corr = T.alloc_buffer((m_count, groups), "float32")
            with T.serial(0, m_count) as m, T.serial(0, groups) as g:
                put(corr, T.float32(0), m, g)
            operand.prologue(args.x, xs, corr)
            with T.parallel(0, tiles_total // tiles) as task:
                nts = [task * tiles + i for i in range(tiles)]
                with T.serial(0, m_count) as m:
                    yacc = zeros((tiles, LANES), "float32")
                    with T.serial(0, groups) as g:
                        dacc = zeros((tiles, LANES), "float32")
                        with T.serial(0, blocks_per_group) as bb:
                            b = g * blocks_per_group + bb
                            for i, dot in enumerate(operand.body(nts, m, b)):
                                scaled = broadcast(xs[m, b]) * T.Cast("float32x16", dot) if operand.integer else dot
                                store(dacc, vec(dacc, i) + scaled, i)
                        for i, nt in enumerate(nts):
                            offset = broadcast(tirx.const(float(shape.offset), "float32"))
                            if args.zero_points is not None:
                                offset = offset + vec(args.zero_points, nt, g)
                            term = vec(dacc, i) - offset * broadcast(corr[m, g])
                            store(yacc, vec(yacc, i) + vec(args.scales, nt, g) * term, i)
                    for i, nt in enumerate(nts):
                        out = vec(yacc, i)
                        if args.bias is not None:
                            out = out + vec(args.bias, start=nt * TILE_ROWS)
                        store(args.y, out, m, start=nt * TILE_ROWS)
    return tvm.IRModule({"main": builder.get()})


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of 32 along K: int8 values a = rint(x * (127 / max|x|)) and the
    float32 scale max|x| / 127 (0 for an all-zero block); the kernel's exact
    arithmetic, in numpy. x: float32 [M, K_pad] -> (int8 [M, K_pad], [M, K_pad/32])."""
    blocks = x.astype(np.float32).reshape(x.shape[0], -1, CHUNK)
    amax = np.abs(blocks).max(axis=-1)
    inv = np.divide(np.float32(127), amax, out=np.zeros_like(amax), where=amax > 0)
    values = np.rint(blocks * inv[..., None]).astype(np.int8).reshape(x.shape)
    return values, amax / np.float32(127)


def vnni_operand(shape, args: Args) -> Operand:
    """The int8-activation operand: quantise x per block of 32, then one vpdpbusd
    per quad of k with the 4 activations broadcast to the tile's 16 rows."""
    m_count, k, kp = shape.m, shape.k, shape.k_padded
    xq = T.alloc_buffer((m_count, kp), "int8")
    planes = slice_widths(shape.bits)

    def prologue(x, xs, corr) -> None:
        with T.serial(0, m_count) as m, T.serial(0, kp // CHUNK) as b:
            amax = zeros((1,), "float32")
            with T.serial(0, CHUNK) as t:
                put(amax, T.max(amax[0], T.abs(padded(x, m, b * CHUNK + t, k, kp))), 0)
            inv = T.if_then_else(amax[0] > T.float32(0), T.float32(127) / amax[0], T.float32(0))
            total = zeros((1,), "int32")
            with T.serial(0, CHUNK) as t:
                kk = b * CHUNK + t
                put(xq, T.Cast("int8", T.nearbyint(padded(x, m, kk, k, kp) * inv)), m, kk)
                put(total, total[0] + T.Cast("int32", xq[m, kk]), 0)
            put(xs, amax[0] / T.float32(127), m, b)
            g = b * CHUNK // shape.group
            put(corr, corr[m, g] + xs[m, b] * T.Cast("float32", total[0]), m, g)

    def weights(nt, b, q: int):
        """The quad's unsigned weight bytes: the codes, or their table values."""
        codes = _unpacked_quad(args.weights, planes, nt, b, q)
        if not shape.code_values:
            return codes
        if args.format_select is not None:  # bits 4-5 of each byte pick the format's 16 entries
            codes = codes | vec(args.format_select, nt, b * CHUNK // shape.group)
        return T.reinterpret("uint32x16", tirx.call_llvm_pure_intrin(
            "int8x64", VPERMB, table, T.reinterpret("int8x64", codes)))

    table = _constant_bytes(shape.code_values)

    def body(nts, m, b) -> list:
        dots = [broadcast(T.int32(0))] * len(nts)
        for q in range(CHUNK // 4):  # quads of k in the block, unrolled
            quad = b * (CHUNK // 4) + q
            activations = broadcast(T.reinterpret("uint32", xq.vload([m, quad * 4], "int8x4")))
            dots = [dpbusd(dot, weights(nt, b, q), activations) for dot, nt in zip(dots, nts, strict=True)]
        return dots

    return Operand(prologue, body)


def _constant_bytes(values: tuple[int, ...]):
    """An int8x64 constant of up to 64 byte values (zero-filled), for vpermb."""
    padded_values = [*values, *[0] * (64 - len(values))]
    return tirx.Shuffle([tirx.const(v if v < 128 else v - 256, "int8") for v in padded_values],
                        [tirx.IntImm("int32", i) for i in range(64)])


def _unpacked_quad(slices, planes: tuple[int, ...], nt, b, q: int):
    """uint32x16: byte t of lane r is the offset-binary code of (row r, k = 4q+t)
    of block b, assembled from its slices (`packing`: "vnni")."""
    code, off = None, 0
    for c, words in zip(planes, slices, strict=True):
        per_byte = 8 // c  # quads per word
        word = vec(words, nt, b * (CHUNK // 4 // per_byte) + q // per_byte)
        shift = (q % per_byte) * c
        field = word >> broadcast(T.uint32(shift)) if shift else word
        field = field & broadcast(T.uint32(((1 << c) - 1) * 0x01010101))
        field = field << broadcast(T.uint32(off)) if off else field
        code = field if code is None else code | field
        off += c
    return code


def _arguments(shape, planes: tuple[int, ...], groups: int) -> Args:
    tiles = shape.n // TILE_ROWS

    def arg(name: str, dims: tuple[int, ...], dtype: str) -> tirx.Buffer:
        buffer = T.buffer(dims, dtype, buffer_name=name)
        T.arg(name, buffer)
        return buffer

    x = arg("x", (shape.m, shape.k), "float32")
    names = [f"plane{i}" for i in range(len(planes))] if shape.layout == "lut" else [f"codes{c}" for c in planes]
    weights = tuple(arg(name, (tiles, shape.k_padded * c // 32, TILE_ROWS), "uint32")
                    for name, c in zip(names, planes, strict=True))
    scales = arg("scales", (tiles, groups, TILE_ROWS), "float32")
    select = shape.code_values and shape.formats > 1
    format_select = arg("format_select", (tiles, groups, TILE_ROWS), "uint32") if select else None
    zero_points = arg("zero_points", (tiles, groups, TILE_ROWS), "float32") if shape.zero_points else None
    bias = arg("bias", (shape.n,), "float32") if shape.bias else None
    return Args(x, weights, scales, format_select, zero_points, bias, arg("y", (shape.m, shape.n), "float32"))


def padded(x: tirx.Buffer, m, kk, k: int, k_padded: int):
    """x[m, kk], zero in the padding kk >= K."""
    return x[m, kk] if k == k_padded else T.if_then_else(kk < k, x[m, kk], T.float32(0))


def put(buffer: tirx.Buffer, value, *index) -> None:
    T.buffer_store(buffer, value, list(index))


def zeros(dims: tuple[int, ...], dtype: str) -> tirx.Buffer:
    """A register-resident ("local") buffer, zeroed: rows of 16 lanes, or (1,)."""
    buffer = T.alloc_buffer(dims, dtype, scope="local")
    if dims == (1,):
        put(buffer, tirx.const(0, dtype), 0)
    for row in range(dims[0] if len(dims) == 2 else 0):
        store(buffer, broadcast(tirx.const(0, dtype)), row)
    return buffer


def divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of n not above limit (a task size that splits n evenly)."""
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)
