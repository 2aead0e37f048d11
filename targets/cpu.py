"""The `cpu` target kind: a host compiled for through LLVM (TVM's `llvm` target).

`arch`, `features` and `cores` may each be `auto`, which the loader replaces with
what this machine reports (`targets.host`); a target written back to YAML then
records the machine it was loaded on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import PlainValidator, ValidationInfo

from bitsmith.targets.base import TargetBase
from bitsmith.targets.fields import show
from bitsmith.targets.host import LLVM_FEATURES, host_arch, host_cores, host_features

_SIMD_BITS = (("avx512f", 512), ("avx", 256))  # widest vector register a feature brings; else 128 (SSE2, NEON)


def _arch(value: object) -> str:
    if value == "auto":
        return host_arch()
    if type(value) is not str or value not in LLVM_FEATURES:
        raise ValueError(f"must be one of auto, {', '.join(LLVM_FEATURES)}, got {show(value)}")
    return value


def _features(value: object, info: ValidationInfo) -> list[str]:
    arch = info.data.get("arch")
    if value == "auto":
        if arch is None:
            raise ValueError("cannot be detected without a valid arch")
        return host_features(arch)
    if type(value) is not list or any(type(item) is not str for item in value):
        raise ValueError(f"must be auto or a list of LLVM feature names, got {show(value)}")
    known = LLVM_FEATURES.get(arch, {}).values() if arch else {v for t in LLVM_FEATURES.values() for v in t.values()}
    for item in value:
        if item not in known:
            raise ValueError(f"unknown feature {item!r} for {arch or 'any arch'}; valid: {', '.join(known)}")
        if value.count(item) > 1:
            raise ValueError(f"lists {item!r} more than once")
    return value


def _cores(value: object) -> int:
    if value == "auto":
        return host_cores()
    if type(value) is not int or value <= 0:
        raise ValueError(f"must be auto or a positive integer, got {show(value)}")
    return value


class CPU(TargetBase):
    """A CPU: instruction set, SIMD features (LLVM's names, e.g. `avx2`, `neon`) and
    the cores to run on."""

    kind: Literal["cpu"]
    arch: Annotated[str, PlainValidator(_arch)]
    features: Annotated[list[str], PlainValidator(_features)]
    cores: Annotated[int, PlainValidator(_cores)]

    @property
    def mattr(self) -> tuple[str, ...]:
        """The features as LLVM's `-mattr` list (`+avx2`, ...)."""
        return tuple(f"+{feature}" for feature in self.features)

    @property
    def simd_bits(self) -> int:
        """Width of the widest SIMD register the features give (SVE lengths are not detected: 128)."""
        return next((bits for feature, bits in _SIMD_BITS if feature in self.features), 128)
