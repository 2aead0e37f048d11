"""The integer-accumulating kernels ("vnni": int8 activations x codes on VNNI;
"lut": int8 tables of 4 activations) against numpy references built from the
packed codes (`unpack_codes`) and the same per-block activation quantisation.

The references redo the kernels' integer arithmetic exactly, so the only
difference left is float32 summation order: ||y - y_ref|| / ||y_ref|| <= 1e-5
(observed ~2e-7). A second check bounds each path's own approximation against
the float product x . dequant(W)^T on Gaussian inputs: the int8 activation
rounding costs ~0.5% (bound 1.5%), the int8 tables ~2% (bound 5%)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

from bitsmith.backends.tvm.int_kernels import quantize_activations
from bitsmith.backends.tvm.kernels import KernelSchedule
from bitsmith.backends.tvm.lut import lut_tables
from bitsmith.backends.tvm.packing import (
    CHUNK,
    PackedWeight,
    PackingError,
    dequantize_packed,
    pack_weight,
    unpack_codes,
)
from bitsmith.backends.tvm.runtime import PackedLinear, compile_kernel, host_target, supports
from bitsmith.ir.formats.quantize import quantize

RTOL = 1e-5
APPROXIMATION = {"vnni": 0.015, "lut": 0.05}
pytestmark = pytest.mark.skipif(not supports("lut"), reason="needs AVX-512 VNNI and VBMI")


def _padded(x: np.ndarray, k_padded: int) -> np.ndarray:
    out = np.zeros((x.shape[0], k_padded), np.float32)
    out[:, : x.shape[1]] = x
    return out


def vnni_reference(packed: PackedWeight, x: np.ndarray) -> np.ndarray:
    """x with its int8 per-block rounding, times the exact weight, in float64."""
    values, scales = quantize_activations(_padded(x, packed.k_padded))
    blocks = values.reshape(x.shape[0], -1, CHUNK).astype(np.float64) * scales[..., None]
    return blocks.reshape(x.shape[0], -1)[:, : packed.k] @ dequantize_packed(packed).T


def lut_reference(packed: PackedWeight, x: np.ndarray) -> np.ndarray:
    """sum over planes i of step * 2^i * table[index of plane i], per block times
    the table scale, minus the offset times the tables' all-ones entries."""
    m, kp = x.shape[0], packed.k_padded
    tables, scales = lut_tables(_padded(x, kp))  # [M, K/4, 16], [M, K/32]
    u = np.zeros((packed.n, kp), np.int64)
    u[:, : packed.k] = unpack_codes(packed).astype(np.int64) ^ packed.code_xor
    u[:, packed.k:] = packed.code_xor  # padding holds code 0
    bits = (u.reshape(packed.n, kp // 4, 4, 1) >> np.arange(packed.bits)) & 1
    index = (bits << np.arange(4)[:, None]).sum(axis=2)  # [N, K/4, bits]
    looked = tables.astype(np.int64)[:, np.arange(kp // 4)[:, None], index]  # [M, N, K/4, bits]
    planes = packed.lut_step << np.arange(packed.bits)
    dots = (looked * planes).sum(axis=3).reshape(m, packed.n, -1, CHUNK // 4).sum(axis=3)
    per_block = dots * scales[:, None, :].astype(np.float64)
    ones = tables[..., 15].astype(np.int64).reshape(m, -1, CHUNK // 4).sum(axis=2) * scales.astype(np.float64)
    blocks_per_group = packed.group // CHUNK
    d = per_block.reshape(m, packed.n, packed.groups, blocks_per_group).sum(axis=3)
    c = ones.reshape(m, packed.groups, blocks_per_group).sum(axis=2)
    zero = 0 if packed.zero_points is None else packed.zero_points.astype(np.float64)
    offset = packed.offset + zero  # [N, G] or scalar
    multiplier = packed.integer_table.multiplier if packed.integer_table else 1
    return (packed.scales.astype(np.float64) / multiplier * (d - offset * c[:, None, :])).sum(axis=2)


REFERENCES = {"vnni": vnni_reference, "lut": lut_reference}


def _check(layout: str, scheme: str, n: int, k: int, m: int, *, rows: int = 16, bias: bool = True,
           **options) -> None:
    rng = np.random.default_rng(abs(hash((layout, scheme, n, k, m))) % 2**32)
    spec = quantize(rng.standard_normal((n, k)).astype(np.float32), scheme, **options)
    packed = pack_weight(spec, "w", layout=layout)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    x = rng.standard_normal((m, k)).astype(np.float32)
    got = PackedLinear(packed, m, bias=b, schedule=KernelSchedule(rows=rows))(x)
    expected = REFERENCES[layout](packed, x) + (0 if b is None else b)
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < RTOL
    exact = x.astype(np.float64) @ spec.dequantize().T + (0 if b is None else b)
    assert np.linalg.norm(got - exact) / np.linalg.norm(exact) < APPROXIMATION[layout]


@pytest.mark.parametrize("layout", ["vnni", "lut"])
@pytest.mark.parametrize("scheme", ["int8_sym", "int4_sym", "int3_sym", "int2_sym", "ternary", "int5_sym",
                                    "binary", "bipolar"])  # 1-bit: {0, 1} and BitNet's {-1, +1}
def test_gemv_matches_the_integer_reference(layout: str, scheme: str) -> None:
    _check(layout, scheme, 32, 256, 1, group_size=64)


@pytest.mark.parametrize("layout", ["vnni", "lut"])
@pytest.mark.parametrize("scheme, options, rows", [
    ("int4", {"asymmetric": True, "group_size": 128}, 32),  # zero points, two tiles per task
    ("int6_sym", {"group_size": 32}, 64),  # one block per group, four tiles per task
    ("int4_sym", {"granularity": "channel"}, 16),  # K = 172 pads to 192
])
def test_gemm_other_layouts(layout: str, scheme: str, options: dict, rows: int) -> None:
    k = 172 if options.get("granularity") == "channel" else 256
    _check(layout, scheme, 64, k, 3, rows=rows, bias=rows != 32, **options)


@pytest.mark.parametrize("scheme, options", [
    ("int4_sym", {"group_size": 64}), ("int3_sym", {"group_size": 64}), ("ternary", {"group_size": 64}),
    ("bipolar", {"group_size": 32}), ("int4", {"asymmetric": True, "group_size": 128}),
    ("int2_sym", {"granularity": "channel", "group_size": None}),  # K = 172 pads to 192
])
def test_float_tables_are_exact(scheme: str, options: dict) -> None:
    """The LUT path with float32 tables (`lut.lut_float_operand`) has no int8
    step: it matches x . dequant(W)^T to float32 summation order."""
    rng = np.random.default_rng(7)
    k = 172 if options.get("granularity") == "channel" else 256
    spec = quantize(rng.standard_normal((48, k)).astype(np.float32), scheme, **options)
    packed = pack_weight(spec, "w", layout="lut")
    x = rng.standard_normal((3, k)).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    got = PackedLinear(packed, 3, bias=b, tables="float32", schedule=KernelSchedule(rows=32))(x)
    exact = x.astype(np.float64) @ spec.dequantize().T + b
    assert np.linalg.norm(got - exact) / np.linalg.norm(exact) < RTOL


@pytest.mark.parametrize("scheme, multiplier", [
    ("fp4_e2m1", 2),  # values x 2 are the integers -12..12
    ("flint4", 1),
    ("bitmod4", 1),  # a mixture: each group's format picks its 16 table entries
    ("bitmod3", 1),
])
def test_integer_valued_tables_run_on_vnni(scheme: str, multiplier: int) -> None:
    """Formats whose values are integers after x1/x2/x4 take the VNNI path with
    a vpermb lookup of code -> byte; the result is still exact to the reference."""
    spec = quantize(np.ones((16, 64), np.float32), scheme, group_size=64)
    assert pack_weight(spec, "w", layout="vnni").integer_table.multiplier == multiplier
    _check("vnni", scheme, 32, 256, 2, group_size=64)


@pytest.mark.parametrize("layout, scheme, held", [
    ("vnni", "nf4", "one integer format or integer-valued tables"),
    ("lut", "nf4", "one integer format or one table linear in the code"),
    ("lut", "fp4_e2m1", "one integer format or one table linear in the code"),
])
def test_integer_layouts_refuse_other_formats(layout: str, scheme: str, held: str) -> None:
    w = np.random.default_rng(4).standard_normal((16, 128)).astype(np.float32)
    with pytest.raises(PackingError, match=f"weight w: the {layout} layout holds {held}, got {scheme}$"):
        pack_weight(quantize(w, scheme, group_size=64), "w", layout=layout)


@pytest.mark.parametrize("layout", ["vnni", "lut"])
def test_integer_layouts_refuse_what_they_cannot_hold(layout: str) -> None:
    w = np.random.default_rng(4).standard_normal((24, 128)).astype(np.float32)
    with pytest.raises(PackingError, match="needs N a multiple of 16, got 24"):
        pack_weight(quantize(w, "int4_sym", group_size=64), "w", layout=layout)
    with pytest.raises(PackingError, match="needs groups of a multiple of 32, got 16"):
        pack_weight(quantize(w[:16], "int4_sym", group_size=16), "w", layout=layout)


@pytest.mark.parametrize("layout, scheme, instructions", [
    ("vnni", "int4_sym", ["vpdpbusd"]),
    ("vnni", "fp4_e2m1", ["vpermb", "vpdpbusd"]),
    ("lut", "int4_sym", ["vpermb", "vpdpbusd"]),
])
def test_kernels_use_the_hosts_integer_instructions(layout: str, scheme: str, instructions: list[str]) -> None:
    """The evidence that the paths do what they say: the AVX-512 VNNI / VBMI
    instructions appear in the compiled kernel's assembly."""
    spec = quantize(np.ones((16, 128), np.float32), scheme, group_size=128)
    layer = PackedLinear(pack_weight(spec, "w", layout=layout), 1)
    module = compile_kernel(layer.shape, layer.schedule, str(host_target()))
    assembly = module.inspect_source("asm")
    for instruction in instructions:
        assert instruction in assembly


def test_a_target_without_the_instructions_is_refused() -> None:
    spec = quantize(np.ones((16, 128), np.float32), "int4_sym", group_size=128)
    haswell = tvm.target.Target({"kind": "llvm", "mcpu": "haswell"})
    with pytest.raises(ValueError, match="w: the vnni layout's kernel needs avx512bw, avx512vnni, which .* lacks"):
        PackedLinear(pack_weight(spec, "w", layout="vnni"), 1, target=haswell)
