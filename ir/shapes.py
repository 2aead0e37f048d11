"""Shape and dtype rules: the output `TensorType` of each op from its inputs.

The builder uses these to type new nodes and the validator re-runs them to check a
graph; both report a broken rule as a `VerifyError` naming the node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bitsmith.ir import dtypes
from bitsmith.ir.errors import VerifyError
from bitsmith.ir.formats.fake_quant import attr_problem
from bitsmith.ir.ops import BINARY, COMPARISON, REDUCTION, UNARY, Op
from bitsmith.ir.types import TensorType

Shape = tuple[int, ...]


class _Rule:
    """Context for one rule application, so every failure names the node."""

    def __init__(self, op: Op, where: str) -> None:
        self.op, self.where = op, where

    def fail(self, message: str) -> VerifyError:
        return VerifyError(f"node %{self.where} ({self.op.value}): {message}")

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            raise self.fail(message)

    def axis(self, axis: int, rank: int) -> int:
        self.check(-rank <= axis < max(rank, 1), f"axis {axis} out of range for rank {rank}")
        return axis % rank if rank else 0

    def broadcast(self, *shapes: Shape) -> Shape:
        rank = max(len(s) for s in shapes)
        out = []
        for i in range(rank):
            dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
            self.check(len(dims) <= 1, f"shapes {' and '.join(map(_fmt, shapes))} do not broadcast")
            out.append(dims.pop() if dims else 1)
        return tuple(out)


def _fmt(shape: Shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def infer_type(op: Op, inputs: Sequence[TensorType], attrs: Mapping[str, Any], where: str) -> TensorType:
    """Output type of `op` applied to `inputs`; raises VerifyError naming `where`."""
    rule = _Rule(op, where)
    if op in BINARY or op in COMPARISON or op in (Op.AND, Op.OR):
        return _binary(rule, op, inputs)
    if op in UNARY or op is Op.NOT:
        return _unary(rule, op, inputs[0], attrs)
    if op in REDUCTION:
        return _reduce(rule, op, inputs[0], attrs)
    return _RULES[op](rule, inputs, attrs)


def _binary(rule: _Rule, op: Op, inputs: Sequence[TensorType]) -> TensorType:
    a, b = inputs
    shape = rule.broadcast(a.shape, b.shape)
    if op in COMPARISON:
        return TensorType(shape, dtypes.BOOL)
    if op in (Op.AND, Op.OR):
        rule.check(a.dtype == b.dtype == dtypes.BOOL, f"needs bool operands, got {a.dtype} and {b.dtype}")
        return TensorType(shape, dtypes.BOOL)
    out = dtypes.promote(a.dtype, b.dtype)
    if op is Op.DIV and not out.is_float:
        out = dtypes.F32  # true division of integers gives floats, as in torch
    return TensorType(shape, out)


def _unary(rule: _Rule, op: Op, x: TensorType, attrs: Mapping[str, Any]) -> TensorType:
    if op is Op.CAST:
        try:
            return TensorType(x.shape, dtypes.dtype(attrs["to"]))
        except KeyError as err:
            raise rule.fail(str(err.args[0])) from None
    if op is Op.NOT:
        rule.check(x.dtype == dtypes.BOOL, f"needs a bool operand, got {x.dtype}")
    elif op not in (Op.NEG, Op.ABS, Op.RELU, Op.CLAMP):
        rule.check(x.dtype.is_float, f"needs a float operand, got {x.dtype}")
    return TensorType(x.shape, x.dtype)


def _reduce(rule: _Rule, op: Op, x: TensorType, attrs: Mapping[str, Any]) -> TensorType:
    axes = {rule.axis(a, x.rank) for a in attrs["axes"]}
    rule.check(len(axes) == len(attrs["axes"]), f"repeated axis in {attrs['axes']}")
    if op is Op.MEAN:
        rule.check(x.dtype.is_float, f"needs a float operand, got {x.dtype}")
    keep = attrs["keepdim"]
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
    if op is Op.SUM and not x.dtype.is_float:
        return TensorType(shape, dtypes.I64)  # integer and bool sums widen, as in torch
    return TensorType(shape, x.dtype)


def _linear(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, w = inputs[0], inputs[1]
    rule.check(w.rank == 2, f"weight must be 2-D [N, K], got {_fmt(w.shape)}")
    rule.check(x.rank >= 1 and x.shape[-1] == w.shape[1],
               f"input has {x.shape[-1] if x.rank else 0} features but the weight {_fmt(w.shape)} expects {w.shape[1]}")
    if len(inputs) == 3:
        rule.check(inputs[2].shape == (w.shape[0],), f"bias {_fmt(inputs[2].shape)} must be [{w.shape[0]}]")
    return TensorType(x.shape[:-1] + (w.shape[0],), x.dtype)


def _matmul(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    a, b = inputs
    rule.check(a.rank >= 2 and b.rank >= 2, f"operands must be at least 2-D, got {_fmt(a.shape)} and {_fmt(b.shape)}")
    rule.check(a.shape[-1] == b.shape[-2],
               f"inner dimensions differ: {_fmt(a.shape)} @ {_fmt(b.shape)}")
    batch = rule.broadcast(a.shape[:-2], b.shape[:-2])
    return TensorType(batch + (a.shape[-2], b.shape[-1]), dtypes.promote(a.dtype, b.dtype))


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (torch's rule)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def _conv2d(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, w = inputs[0], inputs[1]
    rule.check(x.rank == 4 and w.rank == 4, f"needs 4-D input and weight, got {_fmt(x.shape)} and {_fmt(w.shape)}")
    groups = attrs["groups"]
    rule.check(groups >= 1 and x.shape[1] % groups == 0 and w.shape[0] % groups == 0,
               f"groups={groups} does not divide channels {x.shape[1]} -> {w.shape[0]}")
    rule.check(w.shape[1] * groups == x.shape[1],
               f"input has {x.shape[1]} channels but the weight {_fmt(w.shape)} with groups={groups} expects {w.shape[1] * groups}")
    if len(inputs) == 3:
        rule.check(inputs[2].shape == (w.shape[0],), f"bias {_fmt(inputs[2].shape)} must be [{w.shape[0]}]")
    spatial = tuple(
        conv_out(x.shape[2 + i], w.shape[2 + i], attrs["stride"][i], attrs["padding"][i], attrs["dilation"][i])
        for i in range(2)
    )
    rule.check(min(spatial) >= 1, f"output would be empty ({_fmt(spatial)}) for input {_fmt(x.shape)}")
    return TensorType((x.shape[0], w.shape[0]) + spatial, x.dtype)


def _attention(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    q, k, v = inputs[:3]
    rule.check(q.rank >= 2 and k.rank == q.rank and v.rank == q.rank,
               f"q, k, v must have the same rank >= 2, got {_fmt(q.shape)}, {_fmt(k.shape)}, {_fmt(v.shape)}")
    rule.check(q.shape[-1] == k.shape[-1], f"q head dim {q.shape[-1]} != k head dim {k.shape[-1]}")
    rule.check(k.shape[-2] == v.shape[-2], f"k has {k.shape[-2]} positions but v has {v.shape[-2]}")
    batch = rule.broadcast(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    rule.check(batch == q.shape[:-2], f"k/v batch dims {_fmt(k.shape[:-2])} must broadcast to q's {_fmt(q.shape[:-2])}")
    if len(inputs) == 4:
        scores = batch + (q.shape[-2], k.shape[-2])
        rule.check(rule.broadcast(inputs[3].shape, scores) == scores,
                   f"mask {_fmt(inputs[3].shape)} does not broadcast to the scores {_fmt(scores)}")
    return TensorType(q.shape[:-1] + (v.shape[-1],), q.dtype)


def _embedding(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    table, ids = inputs
    rule.check(table.rank == 2, f"table must be 2-D, got {_fmt(table.shape)}")
    rule.check(ids.dtype.is_integer, f"ids must be integers, got {ids.dtype}")
    return TensorType(ids.shape + (table.shape[1],), table.dtype)


def _norm(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, ndim = inputs[0], attrs["ndim"]
    rule.check(1 <= ndim <= x.rank, f"ndim={ndim} out of range for rank {x.rank}")
    rule.check(x.dtype.is_float, f"needs a float operand, got {x.dtype}")
    for param in inputs[1:]:
        rule.check(param.shape == x.shape[-ndim:],
                   f"affine parameter {_fmt(param.shape)} must be {_fmt(x.shape[-ndim:])}")
    return x


def _softmax(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    rule.axis(attrs["axis"], inputs[0].rank)
    rule.check(inputs[0].dtype.is_float, f"needs a float operand, got {inputs[0].dtype}")
    return TensorType(inputs[0].shape, inputs[0].dtype)


def _fake_quant(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    rule.check(inputs[0].dtype.is_float, f"needs a float operand, got {inputs[0].dtype}")
    problem = attr_problem(attrs)
    rule.check(problem is None, problem or "")
    return inputs[0]


def _where(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    cond, a, b = inputs
    rule.check(cond.dtype == dtypes.BOOL, f"condition must be bool, got {cond.dtype}")
    return TensorType(rule.broadcast(cond.shape, a.shape, b.shape), dtypes.promote(a.dtype, b.dtype))


def _reshape(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, shape = inputs[0], tuple(attrs["shape"])
    rule.check(all(d >= 0 for d in shape), f"shape {_fmt(shape)} must be fully specified")
    rule.check(math.prod(shape) == x.numel, f"cannot reshape {_fmt(x.shape)} ({x.numel} elements) to {_fmt(shape)}")
    return TensorType(shape, x.dtype)


def _permute(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, perm = inputs[0], tuple(attrs["perm"])
    rule.check(sorted(perm) == list(range(x.rank)), f"perm {perm} is not a permutation of {x.rank} axes")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def _expand(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, shape = inputs[0], tuple(attrs["shape"])
    rule.check(len(shape) >= x.rank and rule.broadcast(x.shape, shape) == shape,
               f"cannot expand {_fmt(x.shape)} to {_fmt(shape)}")
    return TensorType(shape, x.dtype)


def _concat(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    first = inputs[0]
    axis = rule.axis(attrs["axis"], first.rank)
    for other in inputs[1:]:
        rule.check(other.dtype == first.dtype, f"dtypes differ: {first.dtype} and {other.dtype}")
        rule.check(other.rank == first.rank and all(
            a == b for i, (a, b) in enumerate(zip(first.shape, other.shape)) if i != axis),
            f"shapes {_fmt(first.shape)} and {_fmt(other.shape)} differ off axis {axis}")
    size = sum(t.shape[axis] for t in inputs)
    return TensorType(first.shape[:axis] + (size,) + first.shape[axis + 1:], first.dtype)


def _slice(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x = inputs[0]
    axis = rule.axis(attrs["axis"], x.rank)
    rule.check(attrs["step"] >= 1, f"step must be positive, got {attrs['step']}")
    size = len(range(*slice(attrs["start"], attrs["end"], attrs["step"]).indices(x.shape[axis])))
    return TensorType(x.shape[:axis] + (size,) + x.shape[axis + 1:], x.dtype)


def _take(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, indices = inputs
    rule.check(indices.dtype.is_integer, f"indices must be integers, got {indices.dtype}")
    return TensorType(indices.shape, x.dtype)


def _pool2d(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x = inputs[0]
    rule.check(x.rank == 4, f"needs a 4-D NCHW input, got {_fmt(x.shape)}")
    dilation = attrs.get("dilation", (1, 1))
    for i in range(2):
        rule.check(attrs["padding"][i] <= attrs["kernel"][i] // 2,
                   f"padding {attrs['padding']} must be at most half the kernel {attrs['kernel']}")
    spatial = tuple(
        conv_out(x.shape[2 + i], attrs["kernel"][i], attrs["stride"][i], attrs["padding"][i], dilation[i], attrs["ceil_mode"])
        for i in range(2)
    )
    rule.check(min(spatial) >= 1, f"output would be empty for input {_fmt(x.shape)}")
    return TensorType(x.shape[:2] + spatial, x.dtype)


def _adaptive_pool(rule: _Rule, inputs: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, size = inputs[0], tuple(attrs["output_size"])
    rule.check(x.rank == 4 and len(size) == 2 and min(size) >= 1,
               f"needs a 4-D input and a 2-D output size, got {_fmt(x.shape)} -> {size}")
    return TensorType(x.shape[:2] + size, x.dtype)


_RULES: dict[Op, Callable[[_Rule, Sequence[TensorType], Mapping[str, Any]], TensorType]] = {
    Op.LINEAR: _linear,
    Op.MATMUL: _matmul,
    Op.CONV2D: _conv2d,
    Op.ATTENTION: _attention,
    Op.EMBEDDING: _embedding,
    Op.LAYER_NORM: _norm,
    Op.RMS_NORM: _norm,
    Op.SOFTMAX: _softmax,
    Op.LOG_SOFTMAX: _softmax,
    Op.FAKE_QUANT: _fake_quant,
    Op.WHERE: _where,
    Op.RESHAPE: _reshape,
    Op.PERMUTE: _permute,
    Op.EXPAND: _expand,
    Op.CONCAT: _concat,
    Op.SLICE: _slice,
    Op.TAKE: _take,
    Op.MAX_POOL2D: _pool2d,
    Op.AVG_POOL2D: _pool2d,
    Op.ADAPTIVE_AVG_POOL2D: _adaptive_pool,
}
