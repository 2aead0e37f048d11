"""Element types of tensors in the IR.

A `DType` stores its bit width and kind; byte sizes are derived, so sub-byte
types (int4, ternary, ...) are ordinary dtypes once the format library adds them.
The dtypes here are the ones a float model lowered from torch carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DType:
    """An element type: `name` is what the printer shows (`f32`, `i64`, `bool`)."""

    name: str
    bits: int
    kind: str  # "float" | "int" | "uint" | "bool"

    @property
    def bytes(self) -> float:
        return self.bits / 8

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_integer(self) -> bool:
        return self.kind in ("int", "uint")

    def to_numpy(self) -> np.dtype:
        return _TO_NUMPY[self.name]

    def __str__(self) -> str:
        return self.name


F64 = DType("f64", 64, "float")
F32 = DType("f32", 32, "float")
F16 = DType("f16", 16, "float")
BF16 = DType("bf16", 16, "float")
I64 = DType("i64", 64, "int")
I32 = DType("i32", 32, "int")
I16 = DType("i16", 16, "int")
I8 = DType("i8", 8, "int")
U8 = DType("u8", 8, "uint")
BOOL = DType("bool", 8, "bool")

_ALL = (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)
_BY_NAME = {d.name: d for d in _ALL}
_TO_NUMPY = {
    "f64": np.dtype(np.float64),
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "bf16": np.dtype(ml_dtypes.bfloat16),
    "i64": np.dtype(np.int64),
    "i32": np.dtype(np.int32),
    "i16": np.dtype(np.int16),
    "i8": np.dtype(np.int8),
    "u8": np.dtype(np.uint8),
    "bool": np.dtype(np.bool_),
}
_FROM_NUMPY = {v: _BY_NAME[k] for k, v in _TO_NUMPY.items()}


def dtype(name: str) -> DType:
    """Look a dtype up by its printed name; raises KeyError naming the valid ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown dtype {name!r}; valid: {', '.join(_BY_NAME)}") from None


def from_numpy(np_dtype: np.dtype) -> DType:
    try:
        return _FROM_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise KeyError(f"numpy dtype {np_dtype} has no IR dtype") from None


def promote(a: DType, b: DType) -> DType:
    """Result type of arithmetic on two tensors, by numpy's promotion rules."""
    return from_numpy(np.result_type(a.to_numpy(), b.to_numpy()))


def all_dtypes() -> tuple[DType, ...]:
    return _ALL
