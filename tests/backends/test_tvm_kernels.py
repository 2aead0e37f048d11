"""The compiled dequantise-then-multiply kernels against numpy on the spec's exact
weights: y = x @ spec.dequantize().T + bias, in float64.

Tolerance: the kernel accumulates in float32 over K <= 512 terms with float32
table and scales, so ||y - y_ref|| / ||y_ref|| <= 1e-5 (observed ~3e-7)."""

from __future__ import annotations

import numpy as np
import pytest

from bitsmith.backends.tvm.kernels import KernelSchedule, KernelShape
from bitsmith.backends.tvm.packing import pack_weight
from bitsmith.backends.tvm.runtime import PackedLinear
from bitsmith.ir.formats.quantize import quantize

RTOL = 1e-5


def _check(scheme: str, n: int, k: int, m: int, *, bias: bool = True, schedule: KernelSchedule = KernelSchedule(),
           **options) -> None:
    rng = np.random.default_rng(abs(hash((scheme, n, k, m))) % 2**32)
    spec = quantize(rng.standard_normal((n, k)).astype(np.float32), scheme, **options)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    layer = PackedLinear(pack_weight(spec, "w"), m, bias=b, schedule=schedule)
    x = rng.standard_normal((m, k)).astype(np.float32)
    expected = x.astype(np.float64) @ spec.dequantize().T + (0 if b is None else b)
    got = layer(x)
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < RTOL


@pytest.mark.parametrize("scheme", ["int8", "int4_sym", "int2_sym", "ternary", "fp4_e2m1", "nf4", "bitmod4"])
def test_gemv_matches_dequantized_weights(scheme: str) -> None:
    _check(scheme, 32, 512, 1, group_size=128)


@pytest.mark.parametrize("scheme, options", [
    ("int3_sym", {"group_size": 256}),  # two slices, 2 + 1 bits
    ("int4", {"asymmetric": True, "group_size": 64}),  # zero points
    ("fp8_e4m3", {"group_size": 32}),  # 256-entry table
    ("mxfp4", {}),  # E8M0 scales per 32
    ("int4_sym", {"group_size": 64, "scale_bits": 4}),  # two-level scales
])
def test_gemm_other_layouts(scheme: str, options: dict) -> None:
    _check(scheme, 24, 256, 3, **options)


@pytest.mark.parametrize("scheme", ["int3_sym", "int5_sym", "int6_sym", "int7_sym"])
def test_odd_widths_keep_16_lanes_at_group_128(scheme: str) -> None:
    """Their narrow slices are stored in order (`packing.slice_order`), so the
    float kernel still runs 16-lane vectors instead of 4 (W3 was ~3x slower)."""
    spec = quantize(np.ones((16, 256), np.float32), scheme, group_size=128)
    assert KernelShape.of(pack_weight(spec, "w"), 1, bias=False).lanes == 16
    _check(scheme, 16, 256, 2, group_size=128)


def test_padded_k_and_no_bias() -> None:
    """K = 172 (llama-tiny's down_proj) pads to 176; the padding must add nothing."""
    _check("nf4", 16, 172, 2, bias=False, granularity="channel")


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_every_row_tile_gives_the_same_answer(rows: int) -> None:
    _check("int4_sym", 24, 256, 2, group_size=128, schedule=KernelSchedule(rows=rows))


def test_wrong_input_shape_is_one_line_error() -> None:
    spec = quantize(np.ones((8, 64), np.float32), "int8", group_size=64)
    layer = PackedLinear(pack_weight(spec, "fc1"), 1)
    with pytest.raises(ValueError, match=r"fc1: input shape \[1, 32\], expected \[1, 64\]"):
        layer(np.ones((1, 32), np.float32))


def test_measure_reports_the_median_of_its_repeats() -> None:
    spec = quantize(np.ones((16, 128), np.float32), "int4_sym", group_size=128)
    layer = PackedLinear(pack_weight(spec, "w"), 1)
    timing = layer.measure(np.ones((1, 128), np.float32), repeat=5, min_repeat_ms=1)
    assert len(timing.samples_s) == 5 and all(s > 0 for s in timing.samples_s)
    assert timing.median_s == sorted(timing.samples_s)[2]


def test_kernels_compile_once_per_shape() -> None:
    spec = quantize(np.ones((16, 128), np.float32), "int2_sym", group_size=128)
    first = PackedLinear(pack_weight(spec, "a"), 1)
    second = PackedLinear(pack_weight(spec, "b"), 1)
    assert first.module is second.module
