"""The `gpu` target kind: a CUDA GPU compiled for through TVM's `cuda` target."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import PlainValidator, model_validator

from bitsmith.targets.base import TargetBase
from bitsmith.targets.fields import (Bandwidth, Count, DataSize, FormatName, Frequency, Power, field_error,
                                     show)

_SM_ARCH = re.compile(r"sm_\d{2,3}[a-z]?")


def _sm_arch(value: object) -> str:
    if type(value) is not str or not _SM_ARCH.fullmatch(value):
        raise ValueError(f"must be a CUDA compute capability such as 'sm_90', got {show(value)}")
    return value


class GPU(TargetBase):
    """A GPU: streaming multiprocessors, the clock its published tensor-core peak is
    quoted at, memory, and dense tensor-core FMAs per cycle per SM by format."""

    kind: Literal["gpu"]
    arch: Annotated[str, PlainValidator(_sm_arch)]
    sms: Count
    clock: Frequency
    memory: DataSize
    memory_bandwidth: Bandwidth
    l2_cache: DataSize
    shared_memory_per_sm: DataSize
    tensor_fma_per_cycle_per_sm: dict[FormatName, Count]
    power: Power | None = None

    @model_validator(mode="after")
    def _has_tensor_formats(self) -> Self:
        if not self.tensor_fma_per_cycle_per_sm:
            raise field_error("tensor_fma_per_cycle_per_sm", "must give at least one format")
        return self

    def peak_tensor_tflops(self, fmt: str) -> float:
        """Dense tensor-core peak for `fmt` in TFLOP/s (an FMA counts as two)."""
        try:
            fma = self.tensor_fma_per_cycle_per_sm[fmt]
        except KeyError:
            raise ValueError(f"{self.name} has no tensor-core rate for {fmt!r}; "
                             f"it has {', '.join(self.tensor_fma_per_cycle_per_sm)}") from None
        return 2 * fma * self.sms * self.clock.to("Hz") / 1e12

    @property
    def memory_tb_per_s(self) -> float:
        return self.memory_bandwidth.to("TB/s")
