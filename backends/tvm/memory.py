"""Host storage for a model's weights: one arena, aligned and on huge pages.

Why. A batch-1 decode step streams every weight from DRAM once, so the packed
kernels run at the rate memory feeds them. TVM's own allocator hands out
ordinary 4 KiB pages: the hardware prefetcher stops at each page boundary and
every page costs a TLB walk. Backed by transparent huge pages (2 MiB; Linux's
`madvise(MADV_HUGEPAGE)`, the default THP mode "madvise" grants them only when
asked), the same 4096 x 4096 W4 VNNI GEMV cycling through 96 MiB of weights took
0.335 ms instead of 0.39 ms on the 2-core AMD EPYC this was written on
(`benchmarks/gemv_cpu.py` reads its weights from here); numpy asks for huge
pages for its own large arrays, which is why a numpy streaming sum out-read
TVM's parallel sum on the same machine.

How. The arrays are copied into one anonymous mapping, each at a 64-byte
boundary (the kernels' aligned vector loads), the mapping advised before it is
first touched and its start rounded up to a 2 MiB boundary; TVM sees the
copies through DLPack, without a further copy, and the mapping lives as long as
any tensor over it. Other devices (CUDA) get ordinary device arrays. Where the
kernel refuses huge pages (THP "never", or not Linux) the arena is the same
mapping on small pages.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence

import numpy as np
import tvm

HUGE_PAGE = 2 << 20
ALIGNMENT = 64


def device_tensors(arrays: Sequence[np.ndarray], device: tvm.runtime.Device) -> list[tvm.runtime.Tensor]:
    """`arrays` on `device`: on the CPU as views of one huge-page arena, elsewhere
    copied one by one."""
    if device.dlpack_device_type() != tvm.cpu().dlpack_device_type():
        return [tvm.runtime.tensor(np.ascontiguousarray(a), device) for a in arrays]
    return [tvm.runtime.from_dlpack(view) for view in arena_copies(arrays)]


def arena_copies(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Copies of `arrays`, each 64-byte aligned, side by side in one arena."""
    offsets, end = [], 0
    for array in arrays:
        offsets.append(end)
        end += -(-array.nbytes // ALIGNMENT) * ALIGNMENT
    arena = huge_page_buffer(end)
    copies = []
    for array, offset in zip(arrays, offsets, strict=True):
        copy = arena[offset: offset + array.nbytes].view(array.dtype).reshape(array.shape)
        copy[...] = array
        copies.append(copy)
    return copies


def huge_page_buffer(nbytes: int) -> np.ndarray:
    """A zeroed uint8 buffer of `nbytes`, 2 MiB-aligned when it spans a huge page
    (page-aligned otherwise), advised onto huge pages before any is touched."""
    pad = HUGE_PAGE if nbytes >= HUGE_PAGE else 0
    mapping = mmap.mmap(-1, max(nbytes + pad, 1))
    if pad and hasattr(mmap, "MADV_HUGEPAGE"):
        mapping.madvise(mmap.MADV_HUGEPAGE)
    raw = np.frombuffer(mapping, np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE if pad else 0
    return raw[start: start + nbytes]
