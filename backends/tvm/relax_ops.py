"""Every IR op as Relax ops: the part of a graph that is not a packed GEMM.

Each entry of `RELAX_OPS` builds the Relax expression for one node from its
operands, following `ir/interpret.py` (the golden model) rather than torch or
TVM conventions where they differ:

- operands are cast to the node's declared dtype first (interpret computes with
  numpy's promotion and casts the result; for the graphs we lower, casting first
  gives the same values and keeps TVM from mixing dtypes); comparisons cast to
  numpy's common type of the operands instead;
- `attention` is spelled out as matmul, scale, mask, softmax, matmul (the
  interpreter's formula: a boolean mask selects, a float mask adds, `causal` keeps
  j <= i of the top-left-aligned Sq x Skv square);
- `fake_quant` is computed in float64, as `ir/formats/fake_quant.py` does, then
  cast back: per-row scales for "token", the attribute scale for "tensor". Integer
  grids round with `round` (ties to even, as numpy's `rint`); other grids round to
  the nearest grid value by counting the midpoints below, so an exact midpoint goes
  to the lower value where `Format.round` picks the even code.

The builders return unemitted expressions; `lower.py` emits them and casts the
result to the node's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tvm import relax

from bitsmith.ir.formats.fake_quant import activation_format
from bitsmith.ir.graph import Node
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType

R = relax.op


def tvm_dtype(t: TensorType) -> str:
    """The TVM dtype string of an IR tensor type ("float32", "int64", "bool", ...)."""
    return str(t.dtype.to_numpy())


def embedded(array: np.ndarray) -> relax.Expr:
    """`array` as a Relax constant of its own dtype (without the dtype, relax.const
    turns float64 into float32)."""
    return relax.const(array, str(array.dtype))


@dataclass(frozen=True)
class Operands:
    """What a builder sees: the Relax operands, their IR types, and the node."""

    args: Sequence[relax.Expr]
    types: Sequence[TensorType]
    node: Node

    @property
    def dtype(self) -> str:
        return tvm_dtype(self.node.type)

    def attr(self, name: str):
        return self.node.attrs[name]

    def cast(self, i: int, dtype: str | None = None) -> relax.Expr:
        """Operand i in `dtype` (default: the node's), cast only when it differs."""
        dtype = dtype or self.dtype
        return self.args[i] if tvm_dtype(self.types[i]) == dtype else R.astype(self.args[i], dtype)

    def const(self, value: float | np.ndarray, dtype: str | None = None) -> relax.Expr:
        return embedded(np.asarray(value, dtype=dtype or self.dtype))


Builder = Callable[[Operands], relax.Expr]


# --- elementwise -------------------------------------------------------------------
def _binary(fn: Callable[[relax.Expr, relax.Expr], relax.Expr]) -> Builder:
    return lambda o: fn(o.cast(0), o.cast(1))


def _comparison(fn: Callable[[relax.Expr, relax.Expr], relax.Expr]) -> Builder:
    def build(o: Operands) -> relax.Expr:
        common = str(np.result_type(*(t.dtype.to_numpy() for t in o.types)))
        return fn(o.cast(0, common), o.cast(1, common))

    return build


def _unary(fn: Callable[[relax.Expr], relax.Expr]) -> Builder:
    return lambda o: fn(o.cast(0))


def _logical(fn: Callable[..., relax.Expr]) -> Builder:
    return lambda o: fn(*(o.cast(i, "bool") for i in range(len(o.args))))


def _gelu(o: Operands) -> relax.Expr:
    return (R.nn.gelu_tanh if o.attr("approximate") == "tanh" else R.nn.gelu)(o.cast(0))


def _clamp(o: Operands) -> relax.Expr:
    x = o.cast(0)
    if o.attr("min") is not None:
        x = R.maximum(x, o.const(o.attr("min")))
    return x if o.attr("max") is None else R.minimum(x, o.const(o.attr("max")))


# --- GEMM-like ops over float operands (packed weights are lower.py's) ------------------
def _linear(o: Operands) -> relax.Expr:
    out = R.matmul(o.cast(0), R.permute_dims(o.cast(1)))
    return R.add(out, o.cast(2)) if len(o.args) == 3 else out


def _conv2d(o: Operands) -> relax.Expr:
    out = R.nn.conv2d(o.cast(0), o.cast(1), strides=o.attr("stride"), padding=o.attr("padding"),
                      dilation=o.attr("dilation"), groups=o.attr("groups"))
    if len(o.args) == 3:
        out = R.add(out, R.reshape(o.cast(2), (1, -1, 1, 1)))
    return out


def _attention(o: Operands) -> relax.Expr:
    q, k, v = o.cast(0), o.cast(1), o.cast(2)
    ndim = len(o.types[1].shape)
    swap = [*range(ndim - 2), ndim - 1, ndim - 2]
    scores = R.multiply(R.matmul(q, R.permute_dims(k, swap)), o.const(o.attr("scale")))
    sq, skv = o.types[0].shape[-2], o.types[1].shape[-2]
    minus_inf = o.const(-np.inf)
    if o.attr("causal"):
        scores = R.where(embedded(np.tril(np.ones((sq, skv), dtype=bool))), scores, minus_inf)
    if len(o.args) == 4:
        mask = o.args[3]
        scores = R.where(mask, scores, minus_inf) if o.types[3].dtype.name == "bool" else R.add(scores, o.cast(3))
    return R.matmul(R.nn.softmax(scores, axis=-1), v)


# --- normalisation ---------------------------------------------------------------------
def _norm_axes(o: Operands) -> tuple[list[int], tuple[int, ...]]:
    """The normalised axes and their shape (the shape of weight and bias)."""
    shape = o.types[0].shape
    n = o.attr("ndim")
    return list(range(len(shape) - n, len(shape))), tuple(shape[len(shape) - n:])


def _layer_norm(o: Operands) -> relax.Expr:
    axes, shape = _norm_axes(o)
    gamma = o.cast(1) if len(o.args) > 1 else o.const(np.ones(shape))
    beta = o.cast(2) if len(o.args) > 2 else o.const(np.zeros(shape))
    return R.nn.layer_norm(o.cast(0), gamma, beta, axes=axes, epsilon=o.attr("eps"))


def _rms_norm(o: Operands) -> relax.Expr:
    axes, shape = _norm_axes(o)
    weight = o.cast(1) if len(o.args) > 1 else o.const(np.ones(shape))
    return R.nn.rms_norm(o.cast(0), weight, axes=axes, epsilon=o.attr("eps"))


# --- quantisation ------------------------------------------------------------------------
def _fake_quant(o: Operands) -> relax.Expr:
    fmt = activation_format(o.attr("format"))
    wide = "float64"
    x = o.cast(0, wide)

    def const(value: float | np.ndarray) -> relax.Expr:
        return o.const(value, wide)

    if o.attr("granularity") == "token":
        lo = R.minimum(R.min(x, axis=-1, keepdims=True), const(0.0))
        hi = R.maximum(R.max(x, axis=-1, keepdims=True), const(0.0))
        span = R.subtract(hi, lo) if fmt.asymmetric else R.maximum(R.negative(lo), hi)
        raw = R.divide(span, const(fmt.hi))
        scale = R.where(R.greater(raw, const(0.0)), raw, const(1.0))
        zero = const(0.0)
        if fmt.asymmetric:
            zero = R.minimum(R.maximum(R.round(R.divide(R.negative(lo), scale)), zero), const(fmt.hi))
    else:
        scale, zero = const(o.attr("scale")), const(o.attr("zero_point") or 0)
    units = R.divide(x, scale)
    clipped = R.minimum(R.maximum(units, R.subtract(const(fmt.lo), zero)), R.subtract(const(fmt.hi), zero))
    if fmt.grid is None:
        rounded = R.round(clipped)
    else:
        grid = fmt.grid.grid
        below = R.greater(R.expand_dims(clipped, -1), const((grid[1:] + grid[:-1]) / 2))
        rounded = R.take(const(grid), R.sum(R.astype(below, "int32"), axis=-1), axis=0)
        rounded = R.where(R.isnan(clipped), clipped, rounded)
    return R.multiply(rounded, scale)


# --- data movement -------------------------------------------------------------------------
def _slice(o: Operands) -> relax.Expr:
    axis, step = o.attr("axis"), o.attr("step")
    dim = o.types[0].shape[axis]
    start, end, _ = slice(o.attr("start"), o.attr("end"), step).indices(dim)
    return R.strided_slice(o.args[0], axes=[axis], begin=[start], end=[max(end, start)], strides=[step])


def _concat(o: Operands) -> relax.Expr:
    return R.concat([o.cast(i) for i in range(len(o.args))], axis=o.attr("axis"))


def _reduction(fn: Callable[..., relax.Expr]) -> Builder:
    return lambda o: fn(o.cast(0), axis=list(o.attr("axes")), keepdims=o.attr("keepdim"))


def _pool(o: Operands) -> dict[str, object]:
    return dict(pool_size=o.attr("kernel"), strides=o.attr("stride"), padding=o.attr("padding"),
                ceil_mode=o.attr("ceil_mode"))


RELAX_OPS: dict[Op, Builder] = {
    Op.LINEAR: _linear,
    Op.MATMUL: _binary(R.matmul),
    Op.CONV2D: _conv2d,
    Op.ATTENTION: _attention,
    Op.EMBEDDING: lambda o: R.take(o.args[0], o.args[1], axis=0, mode="clip"),
    Op.LAYER_NORM: _layer_norm,
    Op.RMS_NORM: _rms_norm,
    Op.SOFTMAX: lambda o: R.nn.softmax(o.cast(0), axis=o.attr("axis")),
    Op.LOG_SOFTMAX: lambda o: R.nn.log_softmax(o.cast(0), axis=o.attr("axis")),
    Op.ADD: _binary(R.add),
    Op.SUB: _binary(R.subtract),
    Op.MUL: _binary(R.multiply),
    Op.DIV: _binary(R.divide),
    Op.POW: _binary(R.power),
    Op.MAXIMUM: _binary(R.maximum),
    Op.MINIMUM: _binary(R.minimum),
    **dict(zip((Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE), map(_comparison, (
        R.equal, R.not_equal, R.less, R.less_equal, R.greater, R.greater_equal)), strict=True)),
    Op.AND: _logical(R.logical_and),
    Op.OR: _logical(R.logical_or),
    Op.NOT: _logical(R.logical_not),
    Op.WHERE: lambda o: R.where(o.cast(0, "bool"), o.cast(1), o.cast(2)),
    Op.NEG: _unary(R.negative),
    Op.ABS: _unary(R.abs),
    Op.EXP: _unary(R.exp),
    Op.LOG: _unary(R.log),
    Op.SQRT: _unary(R.sqrt),
    Op.RSQRT: _unary(R.rsqrt),
    Op.RECIPROCAL: lambda o: R.divide(o.const(1.0), o.cast(0)),
    Op.SIN: _unary(R.sin),
    Op.COS: _unary(R.cos),
    Op.TANH: _unary(R.tanh),
    Op.ERF: _unary(R.erf),
    Op.SIGMOID: _unary(R.sigmoid),
    Op.RELU: _unary(R.nn.relu),
    Op.GELU: _gelu,
    Op.SILU: _unary(R.nn.silu),
    Op.CLAMP: _clamp,
    Op.CAST: lambda o: o.cast(0),
    Op.FAKE_QUANT: _fake_quant,
    Op.SUM: _reduction(R.sum),
    Op.MEAN: _reduction(R.mean),
    Op.MAX: _reduction(R.max),
    Op.MIN: _reduction(R.min),
    Op.RESHAPE: lambda o: R.reshape(o.args[0], o.attr("shape")),
    Op.PERMUTE: lambda o: R.permute_dims(o.args[0], list(o.attr("perm"))),
    Op.EXPAND: lambda o: R.broadcast_to(o.args[0], o.attr("shape")),
    Op.CONCAT: _concat,
    Op.SLICE: _slice,
    Op.TAKE: lambda o: R.take(R.reshape(o.args[0], (-1,)), o.args[1], axis=0, mode="clip"),
    Op.MAX_POOL2D: lambda o: R.nn.max_pool2d(o.cast(0), **_pool(o), dilation=o.attr("dilation")),
    Op.AVG_POOL2D: lambda o: R.nn.avg_pool2d(o.cast(0), **_pool(o), count_include_pad=o.attr("count_include_pad")),
    Op.ADAPTIVE_AVG_POOL2D: lambda o: R.nn.adaptive_avg_pool2d(o.cast(0), output_size=o.attr("output_size")),
}
assert set(RELAX_OPS) == set(Op), set(Op) - set(RELAX_OPS)
