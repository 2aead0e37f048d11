"""TIR kernels over packed weights: y[M, N] = x[M, K] . dequant(W)^T + bias.

Dequantise-then-multiply, in three stages so the scale costs one multiply per
group rather than one per weight (the accumulate-then-dequantise structure of
BitMoD and MixPE, FACTS §5):

    p[m, n, g, l] = sum_{blocks b of group g} x[m, b*L + l] * value(n, b, l)
    q[m, n, l]    = sum_g p[m, n, g, l] * scale[n, g]
    y[m, n]       = sum_l q[m, n, l] + bias[n]

`l` runs over the L elements of a block (`packing` module docstring), so `p` and
`q` are L independent accumulators per row: no loop-carried dependency on one
register, and the unpack of a word vector is one shift (uniform for interleaved
slices, per lane for sequential ones) and one mask.
`value` is the code sign-extended (signed integers), the code itself (unsigned),
or `table[format_id, code]` (every other format and mixture), minus the zero point
for asymmetric integers.

Schedule (`KernelSchedule`): rows of W in tiles of `rows` per parallel task;
within a row, `p` and `q` live in registers ("local"), the block's L lanes are
split into vectors of `KernelShape.lanes` (16 float32 = one 512-bit vector on
AVX-512 for every width at groups >= 64) and the rest unrolled; the activation
rows `m` loop inside the row tile, so a decoded word is reused from L1 across them.

This is the exact path (float activations), and the only one for real-valued
tables (NF4) and non-integer formats wider than 4 bits (FP6, FP8). Integer
formats, and integer-valued tables such as FP4 and BitMoD, also have the
integer-accumulating paths, chosen by the packed layout: `int_kernels` (int8
activations on VNNI) and, for integers, `lut`.
"""

from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import te, tirx

from bitsmith.backends.tvm.int_kernels import divisor_at_most, integer_kernel, vnni_operand
from bitsmith.backends.tvm.lut import lut_float_operand, lut_operand
from bitsmith.backends.tvm.packing import MAX_LANES, WORD_BITS, PackedWeight, slice_order, slice_widths


@dataclass(frozen=True)
class KernelShape:
    """What a kernel is specialised on: the packed layout's facts and M; no data."""

    m: int
    n: int
    k: int
    k_padded: int
    bits: int
    block: int
    group: int
    arithmetic: str | None  # "signed" | "unsigned" | None (table lookup)
    formats: int
    zero_points: bool
    bias: bool
    layout: str = "blocked"  # the packed layout, which selects the kernel path
    offset: int = 0  # subtracted from an integer layout's codes u (or their table values)
    code_values: tuple[int, ...] = ()  # "vnni" with integer-valued tables: IntegerTable.values
    plane_step: int = 1  # "lut": what a unit of the code adds (`PackedWeight.lut_step`)
    tables: str = "int8"  # "lut": its tables' entries, "int8" or "float32" (`lut`)

    @classmethod
    def of(cls, packed: PackedWeight, m: int, *, bias: bool, tables: str = "int8") -> KernelShape:
        return cls(m=m, n=packed.n, k=packed.k, k_padded=packed.k_padded, bits=packed.bits, block=packed.block,
                   group=packed.group, arithmetic=packed.arithmetic, formats=len(packed.formats),
                   zero_points=packed.zero_points is not None, bias=bias, layout=packed.layout,
                   offset=packed.offset if packed.layout != "blocked" else 0,
                   code_values=packed.integer_table.values if packed.layout == "vnni" and packed.integer_table
                   else (), plane_step=packed.lut_step if packed.layout == "lut" else 1,
                   tables=tables if packed.layout == "lut" else "int8")

    @property
    def lanes(self) -> int:
        """The vector width over `l`: 16 float32 lanes (one 512-bit vector) unless a
        slice's uniform unpack is shorter (B words interleaved, or e elements of
        one word in order: `packing.slice_order`)."""
        widths = (max(self.block * c // WORD_BITS, WORD_BITS // c) for c in slice_widths(self.bits))
        return min(MAX_LANES, self.block, *widths)


@dataclass(frozen=True)
class KernelSchedule:
    """The tunable choice: rows of W per parallel task (the integer paths round
    it to tiles of 16, interleaved in the inner loop; `tuning` searches it)."""

    rows: int = 4


def linear_kernel(shape: KernelShape, schedule: KernelSchedule) -> tvm.IRModule:
    """The scheduled kernel as an IRModule with one PrimFunc, `main`, taking
    (x, `PackedWeight.arrays()` in order, [bias], y). The packed layout picks the
    path: "blocked" this module's float kernel, "vnni" the int8 dot-product
    kernel (`int_kernels`), "lut" the table-lookup kernel (`lut`)."""
    if shape.layout == "vnni":
        return integer_kernel(shape, schedule.rows, vnni_operand)
    if shape.layout == "lut":
        return integer_kernel(shape, schedule.rows, lut_float_operand if shape.tables == "float32" else lut_operand)
    tensors = linear_compute(shape)
    sch = tvm.s_tir.Schedule(te.create_prim_func(tensors))
    _schedule(sch, shape, schedule)
    return sch.mod


def linear_compute(shape: KernelShape) -> list[te.Tensor]:
    """The float path's placeholders and stages, in the kernel's argument order,
    unscheduled: the CPU schedule (`_schedule`) and the CUDA one (`gpu`) share it."""
    m, n, k, kp, L = shape.m, shape.n, shape.k, shape.k_padded, shape.block
    groups, per_group = kp // shape.group, shape.group // L
    x = te.placeholder((m, k), "float32", name="x")
    weight = _Weight(shape)
    bias = te.placeholder((n,), "float32", name="bias") if shape.bias else None

    def activation(i, kk):
        return x[i, kk] if kp == k else tirx.if_then_else(kk < k, x[i, kk], tirx.const(0.0, "float32"))

    kb = te.reduce_axis((0, per_group), "kb")
    p = te.compute((m, n, groups, L), lambda i, j, g, lane: te.sum(
        activation(i, (g * per_group + kb) * L + lane) * weight.value(j, g, g * per_group + kb, lane), axis=kb),
        name="p")
    gr = te.reduce_axis((0, groups), "gr")
    q = te.compute((m, n, L), lambda i, j, lane: te.sum(p[i, j, gr, lane] * weight.scales[j, gr], axis=gr), name="q")
    lr = te.reduce_axis((0, L), "lr")
    y = te.compute((m, n), lambda i, j: te.sum(q[i, j, lr], axis=lr), name="acc")
    if bias is not None:
        y = te.compute((m, n), lambda i, j: y[i, j] + bias[j], name="bias_add")
    return [x, *weight.args, *([bias] if bias is not None else []), y]


class _Weight:
    """The packed arrays of a "blocked" weight as placeholders (in
    `PackedWeight.arrays()` order) and the decoded value of one element."""

    def __init__(self, shape: KernelShape) -> None:
        n, kp, groups = shape.n, shape.k_padded, shape.k_padded // shape.group
        self.shape = shape
        self.slices = [te.placeholder((n, kp * c // WORD_BITS), "uint32", name=f"codes{c}")
                       for c in slice_widths(shape.bits)]
        self.scales = te.placeholder((n, groups), "float32", name="scales")
        self.args = [*self.slices, self.scales]
        self.format_ids = self.table = self.zero_points = None
        if shape.arithmetic is None:
            self.format_ids = te.placeholder((n, groups), "uint8", name="format_ids")
            self.table = te.placeholder((shape.formats, 1 << shape.bits), "float32", name="table")
            self.args += [self.format_ids, self.table]
        if shape.zero_points:
            self.zero_points = te.placeholder((n, groups), "float32", name="zero_points")
            self.args.append(self.zero_points)

    def value(self, row, g, blk, lane):
        """The element's code as a value (module docstring), before its scale."""
        shape = self.shape
        code = _code(self.slices, shape.bits, row, blk, lane, shape.block)
        if shape.arithmetic == "signed":
            shift = tirx.const(WORD_BITS - shape.bits, "int32")
            v = ((code << shift.astype("uint32")).astype("int32") >> shift).astype("float32")
        elif shape.arithmetic == "unsigned":
            v = code.astype("float32")
        else:
            v = self.table[self.format_ids[row, g].astype("int32"), code.astype("int32")]
        return v - self.zero_points[row, g] if self.zero_points is not None else v


def dequantize_kernel(shape: KernelShape) -> tirx.PrimFunc:
    """The weight decoded to float32 [N, K] (scales applied), as a scheduled
    PrimFunc taking (`PackedWeight.arrays()` in order, w): the first half of the
    "decompress then dense" path for M > 1 (`lower`), where decoding once per
    call and a dense matmul beat decoding the weight again for every row. Rows
    in parallel, the block's lanes vectorised as in the fused kernel."""
    weight = _Weight(shape)
    L, group = shape.block, shape.group
    w = te.compute((shape.n, shape.k), lambda j, kk: weight.value(j, kk // group, kk // L, kk % L)
                   * weight.scales[j, kk // group], name="w")
    sch = tvm.s_tir.Schedule(te.create_prim_func([*weight.args, w]))
    row, col = sch.get_loops(sch.get_sblock("w"))
    sch.parallel(row)
    if shape.k % shape.lanes == 0:
        sch.vectorize(sch.split(col, [None, shape.lanes])[1])
    return sch.mod["main"]


def _code(slices, bits: int, row, blk, lane, block: int):
    """The uint32 code of element (row, blk*block + lane), assembled from its slices."""
    code, off = None, 0
    for c, words in zip(slice_widths(bits), slices, strict=True):
        lanes, per_word = block * c // WORD_BITS, WORD_BITS // c
        if slice_order(c, block) == "sequential":
            word, field = words[row, blk * lanes + lane // per_word], lane % per_word
        else:
            word, field = words[row, blk * lanes + lane % lanes], lane // lanes
        part = (word >> (field * c).astype("uint32")) & tirx.const((1 << c) - 1, "uint32")
        part = part << tirx.const(off, "uint32") if off else part
        code = part if code is None else code | part
        off += c
    return code


def _schedule(sch: tvm.s_tir.Schedule, shape: KernelShape, schedule: KernelSchedule) -> None:
    """Parallel row tiles; p and q in registers, vectorised over block lanes."""
    acc, q, p = sch.get_sblock("acc"), sch.get_sblock("q"), sch.get_sblock("p")
    i, j, _ = sch.get_loops(acc)
    rows = divisor_at_most(shape.n, schedule.rows)
    j_outer, j_inner = sch.split(j, [None, rows])
    sch.reorder(j_outer, j_inner, i)
    sch.parallel(j_outer)
    if shape.bias:
        sch.reverse_compute_at(sch.get_sblock("bias_add"), j_inner)
    # unit loops are kept so a one-group row or a one-block group has the same nest
    sch.compute_at(q, i, preserve_unit_loops=True)
    group_loop = sch.get_loops(q)[-1]
    sch.reorder(group_loop, sch.get_loops(q)[-2])  # groups outside lanes
    sch.compute_at(p, group_loop, preserve_unit_loops=True)
    sch.decompose_reduction(p, _vectorise_lanes(sch, p, shape.lanes, reduction_inside=True))
    _vectorise_lanes(sch, q, shape.lanes, reduction_inside=False)
    sch.decompose_reduction(q, group_loop)
    sch.set_scope(p, 0, "local")
    sch.set_scope(q, 0, "local")


def _vectorise_lanes(sch: tvm.s_tir.Schedule, block, lanes: int, *, reduction_inside: bool):
    """Split the block's innermost lane loop into unrolled x vectorised `lanes`; a
    reduction loop under it (blocks of a group) is moved outside first. Returns the
    outermost loop of the block's own nest (where its reduction init belongs)."""
    loops = sch.get_loops(block)
    if reduction_inside:
        lane_loop, red = loops[-2:]
        sch.reorder(red, lane_loop)
    else:
        lane_loop = loops[-1]
    outer, inner = sch.split(lane_loop, [None, lanes])
    sch.unroll(outer)
    sch.vectorize(inner)
    return red if reduction_inside else outer
