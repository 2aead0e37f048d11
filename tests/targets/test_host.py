"""Host detection for the `cpu` target: /proc/cpuinfo flags become LLVM feature
names, and an explicit CPU description is checked against them."""

from __future__ import annotations

import pytest

from bitsmith.targets import CPU, TargetError, target_from_dict
from bitsmith.targets.host import host_features

X86_CPUINFO = """processor\t: 0
model name\t: Some x86 CPU
flags\t\t: fpu sse2 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 hypervisor
processor\t: 1
flags\t\t: fpu sse2 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 hypervisor
"""
ARM_CPUINFO = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp i8mm bf16 sve
"""


def test_x86_flags_become_llvm_feature_names() -> None:
    assert host_features("x86_64", X86_CPUINFO) == ["sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                                                    "avx512vnni", "avx512bf16"]


def test_arm_features_become_llvm_feature_names() -> None:
    assert host_features("aarch64", ARM_CPUINFO) == ["neon", "dotprod", "fullfp16", "i8mm", "bf16", "sve"]


def test_without_cpuinfo_only_the_baseline_is_assumed() -> None:
    assert host_features("x86_64", "") == []
    assert host_features("aarch64", "") == ["neon"]


def cpu(**fields: object) -> dict[str, object]:
    return {"name": "box", "kind": "cpu", "description": "a machine", "source": "its manual", "arch": "aarch64",
            "features": ["neon", "dotprod"], "cores": 8, **fields}


def test_an_explicit_cpu_is_taken_as_written() -> None:
    target = target_from_dict(cpu())
    assert isinstance(target, CPU)
    assert (target.arch, target.features, target.cores, target.simd_bits) == ("aarch64", ["neon", "dotprod"], 8, 128)
    assert target.mattr == ("+neon", "+dotprod")


@pytest.mark.parametrize(("fields", "message"), [
    ({"features": ["avx2"]},
     "features: unknown feature 'avx2' for aarch64; valid: neon, dotprod, fullfp16, i8mm, bf16, sve, sve2"),
    ({"features": ["neon", "neon"]}, "features: lists 'neon' more than once"),
    ({"features": "all"}, "features: must be auto or a list of LLVM feature names, got 'all'"),
    ({"arch": "riscv64"}, "arch: must be one of auto, x86_64, aarch64, got 'riscv64'"),
    ({"cores": 0}, "cores: must be auto or a positive integer, got 0"),
    ({"cores": "many"}, "cores: must be auto or a positive integer, got 'many'"),
])
def test_a_wrong_cpu_field_is_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(TargetError) as info:
        target_from_dict(cpu(**fields), origin="box.yaml")
    assert str(info.value) == f"box.yaml: {message}"
