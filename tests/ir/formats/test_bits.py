"""Bits per weight against published figures: BitMoD's `w_prec` (FACTS §1.1, HPCA
`bitmod_sim/test_bitmod.py`) and the OCP MX v1.0 rule (32 elements per E8M0 scale)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitsmith.ir.formats.bits import (
    bits_per_weight,
    group_metadata_bits,
    mx_bits_per_weight,
    weight_tensor_bits,
    weight_tensor_bytes,
)


@pytest.mark.parametrize("element_bits, expected", [(3, 3.0625), (4, 4.0625), (6, 6.0625)])
def test_bitmod_w_prec(element_bits: int, expected: float) -> None:
    """FACTS §1.1: an 8-bit scale per group of 128, `w_prec = 3.0625 / 4.0625 / 6.0625`."""
    assert bits_per_weight(element_bits, 128, scale_bits=8) == expected


def test_bitmod_selector_is_optional_extra() -> None:
    assert bits_per_weight(4, 128, scale_bits=8, selector_bits=2) == 4 + 10 / 128


@pytest.mark.parametrize("name, element_bits, expected", [("MXFP4", 4, 4.25), ("MXFP6", 6, 6.25),
                                                         ("MXFP8", 8, 8.25), ("MXINT8", 8, 8.25)])
def test_mx(name: str, element_bits: int, expected: float) -> None:
    """OCP MX v1.0: 32 elements share one 8-bit E8M0 scale."""
    assert mx_bits_per_weight(element_bits) == expected


def test_asymmetric_int_with_fp16_scale_and_zero_point() -> None:
    assert bits_per_weight(4, 128, scale_bits=16, zero_point_bits=4) == 4 + 20 / 128


def test_per_channel_amortises_over_the_row() -> None:
    assert bits_per_weight(8, None, scale_bits=16, row_length=4096) == 8 + 16 / 4096
    with pytest.raises(ValueError):
        bits_per_weight(8, None)


def test_bad_metadata_rejected() -> None:
    with pytest.raises(ValueError):
        group_metadata_bits(scale_bits=-1)
    with pytest.raises(ValueError):
        bits_per_weight(4, 0)


def test_tensor_bytes_bitmod_linear() -> None:
    # a 4096x4096 w4g128 layer with 8-bit scales: 4.0625 bits/weight exactly
    assert weight_tensor_bytes((4096, 4096), 4, 128, scale_bits=8) == 4096 * 4096 * 4.0625 / 8


def test_tensor_partial_group_stores_full_metadata() -> None:
    assert weight_tensor_bits((2, 130), 4, 128, scale_bits=8) == 2 * (130 * 4 + 2 * 8)
    assert weight_tensor_bits((2, 130), 4, None, scale_bits=8) == 2 * (130 * 4 + 8)
    assert weight_tensor_bytes((3,), 3, None, scale_bits=0) == 2  # 9 bits round up


@given(st.integers(1, 8), st.sampled_from([16, 32, 64, 128]), st.integers(1, 8), st.integers(1, 8),
       st.sampled_from([0, 8, 16]))
def test_tensor_bits_match_bits_per_weight(element_bits: int, group: int, rows: int, n_groups: int,
                                           scale_bits: int) -> None:
    """When rows split into whole groups, total bits = elements × bits_per_weight."""
    shape = (rows, group * n_groups)
    total = weight_tensor_bits(shape, element_bits, group, scale_bits=scale_bits)
    assert total == rows * group * n_groups * bits_per_weight(element_bits, group, scale_bits=scale_bits)
