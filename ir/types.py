"""`TensorType`: the static type every IR value carries."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitsmith.ir.dtypes import DType


@dataclass(frozen=True)
class TensorType:
    """Shape, element type and (optional) layout of a tensor.

    `layout` names the axes, outermost first (`NCHW` for conv activations, `OIHW`
    for conv weights, `NK` for a linear layer's weight: N outputs by K reductions);
    empty means plain row-major with no named axes. Passes that pack weights for
    hardware read it; the validator checks it has one letter per axis.
    """

    shape: tuple[int, ...]
    dtype: DType
    layout: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> float:
        return self.numel * self.dtype.bytes

    def __str__(self) -> str:
        text = f"{self.dtype}[{','.join(map(str, self.shape))}]"
        return f"{text}@{self.layout}" if self.layout else text
