"""CUDA: the target for the GPU TVM sees, and a GPU schedule of the packed kernel.

The packed kernel's compute (`kernels` module docstring: p, q, acc stages) is the
CPU kernel's; only the schedule differs. One thread per output element (m, n),
threads in blocks of `THREADS` over the flattened (m, n) space; each thread keeps
its p and q accumulators in registers/local memory, exactly as a CPU row task
does, and decodes its row's words itself. A plain first schedule: correct on any
CUDA GPU, not tuned (no shared-memory staging of x, no warp-level reduction).
The Relax ops around it get dlight's default GPU schedules from the CUDA pipeline;
this kernel is marked scheduled so dlight leaves it alone (`lower.py`).
"""

from __future__ import annotations

import tvm
from tvm import te, tirx

from bitsmith.backends.tvm.kernels import KernelSchedule, KernelShape, linear_compute

THREADS = 128
GPU_PATHS = ("blocked",)  # the packed-GEMM paths `gpu_kernel` builds (`lower.kernel_path`)


def cuda_target() -> tvm.target.Target:
    """The CUDA target of GPU 0 (its arch detected), e.g. {"kind": "cuda", "arch": "sm_90"}."""
    return tvm.target.Target.from_device(tvm.cuda(0))


def gpu_kernel(shape: KernelShape, _schedule: KernelSchedule | None = None) -> tirx.PrimFunc:
    """The packed kernel for `shape`, scheduled for CUDA (module docstring; the
    CPU's rows-per-task choice does not apply)."""
    sch = tvm.s_tir.Schedule(te.create_prim_func(linear_compute(shape)))
    acc, q, p = sch.get_sblock("acc"), sch.get_sblock("q"), sch.get_sblock("p")
    i, j, _ = sch.get_loops(acc)
    blocks, threads = sch.split(sch.fuse(i, j), [None, THREADS])
    sch.bind(blocks, "blockIdx.x")
    sch.bind(threads, "threadIdx.x")
    if shape.bias:  # acc is then an intermediate: the thread's register, not a global array
        sch.reverse_compute_at(sch.get_sblock("bias_add"), threads)
        sch.set_scope(acc, 0, "local")
    sch.compute_at(q, threads, preserve_unit_loops=True)
    sch.compute_at(p, sch.get_loops(q)[-1], preserve_unit_loops=True)
    sch.set_scope(p, 0, "local")
    sch.set_scope(q, 0, "local")
    return sch.mod["main"]
