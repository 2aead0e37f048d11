"""The weight arena (`backends.tvm.memory`): aligned copies, on huge pages where
Linux grants them, seen by TVM without a further copy."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tvm

from bitsmith.backends.tvm.memory import ALIGNMENT, HUGE_PAGE, arena_copies, device_tensors, huge_page_buffer


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(3).astype(np.float32),  # 12 bytes: the next copy must skip to 64
            rng.integers(0, 2**32, (1024, 700), dtype=np.uint32),  # 2.7 MiB: the arena spans huge pages
            np.zeros((0, 5), np.float32), np.array(2.5), np.ones((2, 3), bool)]


def test_copies_are_equal_aligned_and_share_one_arena() -> None:
    arrays = _arrays()
    copies = arena_copies(arrays)
    starts = [c.ctypes.data for c in copies]
    assert starts[0] % HUGE_PAGE == 0
    for array, copy, start in zip(arrays, copies, starts, strict=True):
        assert copy.dtype == array.dtype and copy.shape == array.shape
        np.testing.assert_array_equal(copy, array)
        assert start % ALIGNMENT == 0
    assert starts[1] - starts[0] == ALIGNMENT  # packed side by side, not one mapping each


def test_tvm_tensors_are_views_of_the_arena() -> None:
    arrays = _arrays()
    tensors = device_tensors(arrays, tvm.cpu())
    for array, tensor in zip(arrays, tensors, strict=True):
        np.testing.assert_array_equal(tensor.numpy(), array)
    big = tensors[1]
    assert np.from_dlpack(big).ctypes.data % HUGE_PAGE == ALIGNMENT  # one 64-byte slot after the first array


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages are advised through Linux madvise")
def test_large_buffers_are_advised_onto_huge_pages() -> None:
    buffer = huge_page_buffer(3 * HUGE_PAGE)
    assert buffer.ctypes.data % HUGE_PAGE == 0 and buffer.nbytes == 3 * HUGE_PAGE
    assert "hg" in _vm_flags(buffer.ctypes.data)
    small = huge_page_buffer(4096)
    assert "hg" not in _vm_flags(small.ctypes.data)  # below a huge page there is nothing to gain


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping holding `address` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                low, high = (int(h, 16) for h in head.split("-"))
                inside = low <= address < high
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")
