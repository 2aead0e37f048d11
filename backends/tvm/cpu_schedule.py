"""Schedules for the Relax ops of a graph on the CPU: TVM 0.27's default LLVM
pipeline (`relax.backend.cpu_generic`) legalises them to TIR and leaves every
loop nest serial and scalar, so a float MiniLM spent seconds in its matmuls.

`cpu_pipeline(target)` is that pipeline with one step added after fusion, as
the CUDA pipeline adds dlight's GPU rules: `dlight.ApplyDefaultSchedule` with,
in order (the first rule that applies to a PrimFunc schedules it):

- `Matmul` (here): one reduction block C[..., i, j] += A[..., i, k] * B[..., k, j]
  with B contiguous along j (Relax's matmul after `permute_dims`, which TVM
  legalises as its own transpose function, so linear weights arrive as [K, N]),
  optionally with elementwise epilogues (bias, GELU, scaling, masks). Register
  tiles of 4 rows x up to 64 columns (4 x 16-lane vectors, 16 accumulators)
  kept in "local", k outside the tile, the row and column tiles fused into one
  parallel loop; the epilogue is inlined into the tile's write-back.
- dlight's CPU `Reduction` (softmax, layer/RMS norm): parallel rows, vectorised
  elementwise steps.
- `Elementwise` (here): functions of injective blocks only (transposes,
  reshapes, adds, gathers), inlined into the last block, whose loops are fused,
  16-lane vectorised when the extent allows, and run in parallel.

A PrimFunc no rule takes (and the packed kernels, marked `tirx.is_scheduled`)
is left as it is. The numerics are those of the unscheduled loops up to
float32 summation order.
"""

from __future__ import annotations

import tvm
from tvm import relax, s_tir, tirx
from tvm.relax.backend.cpu_generic import pipeline as cpu_generic
from tvm.s_tir import dlight
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule

from bitsmith.backends.tvm.int_kernels import divisor_at_most

LANES = 16  # float32 lanes of one 512-bit vector
TILE_ROWS = 4
TILE_VECTORS = 4


def cpu_pipeline(target: tvm.target.Target) -> tvm.transform.Pass:
    """TVM's CPU pipeline with the schedule step added after fusion."""
    schedule = dlight.ApplyDefaultSchedule(Matmul(), dlight.cpu.Reduction(), Elementwise())

    @tvm.transform.module_pass(opt_level=0, name="bitsmith_cpu_pipeline")
    def _pipeline(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        with target:
            return tvm.transform.Sequential(
                cpu_generic.library_dispatch_passes(target) + cpu_generic.legalize_passes(target) + [schedule]
                + cpu_generic.dataflow_lower_passes(target) + cpu_generic.finalize_passes(target))(mod)

    return _pipeline


class Matmul(ScheduleRule):
    """Register-tiled matmul with B contiguous along j (module docstring)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, _tunable: bool) -> s_tir.Schedule | None:
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
            return None
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if infos is None:
            return None
        main = [i for i, info in enumerate(infos) if not info.is_injective()]
        if len(main) != 1 or not _is_matmul(sch, infos[main[0]]):
            return None
        try:
            for info in infos[: main[0]]:  # producers (a fused cast or reshape)
                sch.compute_inline(info.block_rv)
            return _schedule_matmul(sch, infos[main[0]].block_rv, [i.block_rv for i in infos[main[0] + 1:]])
        except s_tir.ScheduleError:  # an epilogue that cannot be inlined: leave the function alone
            return None


def _is_matmul(sch: s_tir.Schedule, info) -> bool:
    """Spatial iterators then one reduction k, one operand indexed [..., k] last
    and one [..., j] last (j the innermost spatial iterator)."""
    kinds = info.dom_kind()
    if len(kinds) < 3 or kinds[-1] != "R" or "R" in kinds[:-1]:
        return False
    block = sch.get(info.block_rv)
    j, k = block.iter_vars[-2].var, block.iter_vars[-1].var
    last = [region.region[-1].min for region in block.reads]
    return (len(block.reads) == 2 and any(index.same_as(k) for index in last)
            and any(index.same_as(j) for index in last))


def _schedule_matmul(sch: s_tir.Schedule, block, epilogue: list) -> s_tir.Schedule:
    loops = sch.get_loops(block)
    rows = sch.fuse(*loops[:-2]) if len(loops) > 3 else loops[0]
    j, k = loops[-2], loops[-1]
    n_rows, n_cols = (int(sch.get(loop).extent) for loop in (rows, j))
    lanes = LANES if n_cols % LANES == 0 else divisor_at_most(n_cols, LANES)
    vectors = divisor_at_most(n_cols // lanes, TILE_VECTORS)
    r_outer, r_inner = sch.split(rows, [None, divisor_at_most(n_rows, TILE_ROWS)])
    j_outer, j_vectors, j_lanes = sch.split(j, [None, vectors, lanes])
    sch.reorder(r_outer, j_outer, k, r_inner, j_vectors, j_lanes)
    write_back = sch.cache_write(block, 0, "local")
    for stage in epilogue[:-1]:  # GELU's intermediates, into the last epilogue block
        sch.compute_inline(stage)
    if epilogue:
        sch.reverse_compute_inline(epilogue[-1])
    tile = sch.fuse(r_outer, j_outer)
    sch.parallel(tile)
    sch.reverse_compute_at(write_back, tile)
    sch.unroll(r_inner)
    sch.unroll(j_vectors)
    sch.vectorize(j_lanes)
    sch.decompose_reduction(block, k)
    _, out_cols = sch.get_loops(write_back)[-2:]
    sch.vectorize(sch.split(out_cols, [None, lanes])[1])
    return sch


class Elementwise(ScheduleRule):
    """Injective functions: parallel, and vectorised where the extent allows."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, _tunable: bool) -> s_tir.Schedule | None:
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
            return None
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if not infos or not all(info.is_injective() for info in infos):
            return None
        try:
            for info in infos[:-1]:
                sch.compute_inline(info.block_rv)
        except s_tir.ScheduleError:
            return None
        loops = sch.get_loops(infos[-1].block_rv)
        if not loops:
            return None
        fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
        extent = int(sch.get(fused).extent)
        if extent % LANES == 0 and extent >= 4 * LANES:
            fused, inner = sch.split(fused, [None, LANES])
            sch.vectorize(inner)
        sch.parallel(fused)
        return sch
