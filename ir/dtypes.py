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


_CATEGORY = {"bool": 0, "uint": 1, "int": 1, "float": 2}


def promote(a: DType, b: DType) -> DType:
    """Result type of arithmetic on two tensors, by torch's rules (which the
    lowered models follow): the higher category wins (bool < integer < float)
    whatever the widths, so f16 + i64 is f16; within a category the wider type
    wins; f16 with bf16 gives f32, u8 with i8 gives i16."""
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    if {a, b} == {F16, BF16}:
        return F32
    if a.kind != b.kind:  # signed with unsigned: the signed type wide enough for both
        signed, unsigned = (a, b) if a.kind == "int" else (b, a)
        return signed if signed.bits > unsigned.bits else _BY_NAME[f"i{min(64, unsigned.bits * 2)}"]
    return a if a.bits >= b.bits else b


def all_dtypes() -> tuple[DType, ...]:
    return _ALL
