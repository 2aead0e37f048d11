"""Storage cost of quantised weights: bits per weight with the metadata counted.

Papers compare formats by bits per weight including the per-group scale (BitMoD
charges an 8-bit scale per group of 128: `w_prec = 3.0625 / 4.0625 / 6.0625`,
FACTS §1.1), so the simulator's memory traffic and the reports use the same rule:
element bits plus each group's metadata (scale, zero point, format selector)
spread over the group's elements.

Layout convention: groups run along the last axis of a weight tensor, the input
channel of a `[out, in]` linear weight (FACTS §1.1: group 128 along the input channel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# OCP Microscaling (MX) Formats Specification v1.0 (concrete MX formats): a block of 32 elements shares
# one E8M0 (8-bit power-of-two) scale, so MXFP4 = 4 + 8/32 = 4.25 bits per element.
MX_BLOCK_SIZE = 32
MX_SCALE_BITS = 8


def group_metadata_bits(scale_bits: int = 16, zero_point_bits: int = 0, selector_bits: int = 0) -> int:
    """Metadata bits stored once per group: scale, zero point (asymmetric INT) and
    format selector (a per-group mixture such as BitMoD's, 2 bits; FACTS §1.1)."""
    if min(scale_bits, zero_point_bits, selector_bits) < 0:
        raise ValueError("metadata bit counts must be non-negative")
    return scale_bits + zero_point_bits + selector_bits


def _group_length(group_size: int | None, row_length: int | None) -> int:
    """Elements one group's metadata is spread over: the group, or a whole row
    (per-channel quantisation) when `group_size` is None."""
    length = row_length if group_size is None else group_size
    if length is None:
        raise ValueError("per-channel quantisation (group_size=None) needs row_length")
    if length <= 0:
        raise ValueError(f"group length must be positive, got {length}")
    return length


def bits_per_weight(
    element_bits: float,
    group_size: int | None = None,
    scale_bits: int = 16,
    zero_point_bits: int = 0,
    selector_bits: int = 0,
    *,
    row_length: int | None = None,
) -> float:
    """Average bits per weight: element bits + per-group metadata / group size.

    BitMoD w4g128 with an 8-bit scale: 4 + 8/128 = 4.0625 (FACTS §1.1); its mixture
    selector is extra and off by default because BitMoD's simulator does not charge
    it. `group_size=None` is per-channel: metadata once per row of `row_length`.
    """
    length = _group_length(group_size, row_length)
    return element_bits + group_metadata_bits(scale_bits, zero_point_bits, selector_bits) / length


def mx_bits_per_weight(element_bits: float) -> float:
    """Bits per element of an OCP MX format: 32 elements share an 8-bit E8M0 scale
    (MXFP4 4.25, MXFP6 6.25, MXFP8 and MXINT8 8.25)."""
    return bits_per_weight(element_bits, MX_BLOCK_SIZE, scale_bits=MX_SCALE_BITS)


def weight_tensor_bits(
    shape: Sequence[int],
    element_bits: int,
    group_size: int | None = None,
    scale_bits: int = 16,
    zero_point_bits: int = 0,
    selector_bits: int = 0,
) -> int:
    """Exact storage in bits of a weight tensor grouped along its last axis.

    A row whose length is not a multiple of `group_size` ends in a partial group
    that still stores full metadata; `group_size=None` stores it once per row.
    """
    if not shape:
        raise ValueError("a weight tensor needs at least one axis")
    row_length = shape[-1]
    rows = math.prod(shape[:-1])
    groups_per_row = 1 if group_size is None else -(-row_length // _group_length(group_size, None))
    metadata = group_metadata_bits(scale_bits, zero_point_bits, selector_bits)
    return rows * (row_length * element_bits + groups_per_row * metadata)


def weight_tensor_bytes(
    shape: Sequence[int],
    element_bits: int,
    group_size: int | None = None,
    scale_bits: int = 16,
    zero_point_bits: int = 0,
    selector_bits: int = 0,
) -> int:
    """`weight_tensor_bits` rounded up to whole bytes (the tensor packed densely)."""
    return -(-weight_tensor_bits(shape, element_bits, group_size, scale_bits, zero_point_bits, selector_bits) // 8)
