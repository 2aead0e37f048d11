"""Converters of elementwise ops and reductions.

torch promotes mixed operand dtypes implicitly (and by its own rules, where 0-d
tensors and Python scalars count only by category); the IR states every promotion
as a `cast`, so each IR elementwise op sees operands of one dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch.fx

from bitsmith.ir import dtypes
from bitsmith.ir.dtypes import DType
from bitsmith.ir.frontend.converters import Converter, converts, node_arg, positive_axis, unsupported
from bitsmith.ir.frontend.torch_export import ir_dtype
from bitsmith.ir.ops import COMPARISON, Op

if TYPE_CHECKING:
    from bitsmith.ir.frontend.torch_export import _Lowering


def cast_to(lw: _Lowering, node: torch.fx.Node, name: str, dtype: DType) -> str:
    """`name` as `dtype`: torch promotes operands implicitly, the IR says so with a cast."""
    if lw.type_of(name).dtype == dtype:
        return name
    return lw.emit(Op.CAST, [name], dict(to=dtype.name), node=node, check=False)


def _operands(lw: _Lowering, node: torch.fx.Node, dtype: DType, count: int = 2) -> list[str]:
    """The first `count` operands of an elementwise op, all of `dtype`: Python
    scalars become literals of it and tensors of another dtype are cast to it."""
    return [cast_to(lw, node, lw.tensor(a, dtype), dtype) for a in node.args[:count]]


def _result_type(node: torch.fx.Node, count: int = 2) -> DType:
    """torch's promoted dtype of an op's operands, which comparisons compute in.
    It differs from the IR's `promote`: a 0-d tensor or a Python scalar only counts
    by its category, so `i64 > 0.5` compares in f32 and `f16 * tensor(0.5)` is f16."""
    def stand_in(arg: Any) -> Any:
        if not isinstance(arg, torch.fx.Node):
            return arg
        val = arg.meta["val"]
        return torch.empty(val.shape, dtype=val.dtype, device="meta")

    return ir_dtype(torch.result_type(*(stand_in(a) for a in node.args[:count])), str(node.target))


def _binary(op: Op) -> Converter:
    """An op of two operands, both cast to the dtype torch computes in: the result's,
    or for comparisons (whose result is bool) the operands' promoted dtype."""
    def convert(lw: _Lowering, node: torch.fx.Node) -> str:
        dtype = _result_type(node) if op in COMPARISON else lw.out_type(node).dtype
        a, b = _operands(lw, node, dtype)
        alpha = node_arg(node, 2, "alpha", 1)  # keyword-only in add.Tensor, positional in add.Scalar
        if alpha != 1:
            b = lw.emit(Op.MUL, [b, lw.literal(alpha, dtype)], node=node, check=False)
        return lw.emit(op, [a, b], node=node)
    return convert


for _op, _names in {
    Op.ADD: ("add.Tensor", "add.Scalar"),
    Op.SUB: ("sub.Tensor", "sub.Scalar"),
    Op.MUL: ("mul.Tensor", "mul.Scalar"),
    Op.DIV: ("div.Tensor", "div.Scalar"),
    Op.POW: ("pow.Tensor_Scalar", "pow.Tensor_Tensor", "pow.Scalar"),
    Op.MAXIMUM: ("maximum.default",),
    Op.MINIMUM: ("minimum.default",),
    Op.EQ: ("eq.Tensor", "eq.Scalar"),
    Op.NE: ("ne.Tensor", "ne.Scalar"),
    Op.LT: ("lt.Tensor", "lt.Scalar"),
    Op.LE: ("le.Tensor", "le.Scalar"),
    Op.GT: ("gt.Tensor", "gt.Scalar"),
    Op.GE: ("ge.Tensor", "ge.Scalar"),
    Op.AND: ("logical_and.default",),  # operands of any dtype count as "nonzero": cast to bool
    Op.OR: ("logical_or.default",),
}.items():
    converts(*_names)(_binary(_op))


def _bitwise(op: Op) -> Converter:
    """Bitwise ops on bools are the logical ones; on integers they have no IR op."""
    def convert(lw: _Lowering, node: torch.fx.Node) -> str:
        if lw.out_type(node).dtype != dtypes.BOOL:
            raise unsupported(node, f"bitwise {op.value} of {lw.out_type(node).dtype} (only bool)")
        return (_unary(op) if op is Op.NOT else _binary(op))(lw, node)
    return convert


converts("bitwise_and.Tensor")(_bitwise(Op.AND))
converts("bitwise_or.Tensor")(_bitwise(Op.OR))
converts("bitwise_not.default")(_bitwise(Op.NOT))


@converts("rsub.Scalar", "rsub.Tensor")
def _rsub(lw: _Lowering, node: torch.fx.Node) -> str:
    dtype = lw.out_type(node).dtype
    a, b = _operands(lw, node, dtype)
    alpha = node_arg(node, 2, "alpha", 1)
    if alpha != 1:
        a = lw.emit(Op.MUL, [a, lw.literal(alpha, dtype)], node=node, check=False)
    return lw.emit(Op.SUB, [b, a], node=node)


@converts("div.Tensor_mode")
def _div_mode(lw: _Lowering, node: torch.fx.Node) -> str:
    if node.kwargs.get("rounding_mode") is not None:
        raise unsupported(node, f"rounding_mode={node.kwargs['rounding_mode']!r}")
    return _binary(Op.DIV)(lw, node)


@converts("where.self", "where.ScalarSelf", "where.ScalarOther", "where.Scalar")
def _where(lw: _Lowering, node: torch.fx.Node) -> str:
    cond = lw.name_of(node.args[0])
    dtype = lw.out_type(node).dtype
    a, b = (cast_to(lw, node, lw.tensor(arg, dtype), dtype) for arg in node.args[1:3])
    return lw.emit(Op.WHERE, [cond, a, b], node=node)


@converts("masked_fill.Scalar", "masked_fill.Tensor")
def _masked_fill(lw: _Lowering, node: torch.fx.Node) -> str:
    x, mask = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    dtype = lw.type_of(x).dtype
    return lw.emit(Op.WHERE, [mask, cast_to(lw, node, lw.tensor(node.args[2], dtype), dtype), x], node=node)


def _unary(op: Op) -> Converter:
    """An elementwise op of one operand, which is first cast to the result's dtype
    (`exp` of ints computes in floats; `logical_not` of floats tests for nonzero)."""
    def convert(lw: _Lowering, node: torch.fx.Node) -> str:
        x = lw.name_of(node.args[0])
        return lw.emit(op, [cast_to(lw, node, x, lw.out_type(node).dtype)], node=node)
    return convert


for _op, _names in {
    Op.NEG: ("neg.default",), Op.ABS: ("abs.default",), Op.EXP: ("exp.default",), Op.LOG: ("log.default",),
    Op.SQRT: ("sqrt.default",), Op.RSQRT: ("rsqrt.default",), Op.RECIPROCAL: ("reciprocal.default",),
    Op.SIN: ("sin.default",), Op.COS: ("cos.default",), Op.TANH: ("tanh.default",), Op.ERF: ("erf.default",),
    Op.SIGMOID: ("sigmoid.default",), Op.RELU: ("relu.default",), Op.SILU: ("silu.default",),
    Op.NOT: ("logical_not.default",),
}.items():
    converts(*_names)(_unary(_op))


@converts("leaky_relu.default")
def _leaky_relu(lw: _Lowering, node: torch.fx.Node) -> str:
    """torch's definition, x > 0 ? x : slope * x, as a compare, a multiply and a select."""
    x = lw.name_of(node.args[0])
    dtype = lw.type_of(x).dtype
    positive = lw.emit(Op.GT, [x, lw.literal(0, dtype)], node=node, check=False)
    scaled = lw.emit(Op.MUL, [x, lw.literal(node_arg(node, 1, "negative_slope", 0.01), dtype)], node=node, check=False)
    return lw.emit(Op.WHERE, [positive, x, scaled], node=node)


@converts("gelu.default")
def _gelu(lw: _Lowering, node: torch.fx.Node) -> str:
    return lw.emit(Op.GELU, [lw.name_of(node.args[0])],
                   dict(approximate=node.kwargs.get("approximate", "none")), node=node)


@converts("clamp.default", "clamp_min.default", "clamp_max.default", "hardtanh.default")
def _clamp(lw: _Lowering, node: torch.fx.Node) -> str:
    target = str(node.target)
    low, high = node_arg(node, 1, "min"), node_arg(node, 2, "max")
    if target.endswith("clamp_max.default"):
        low, high = None, node.args[1]
    elif target.endswith("hardtanh.default"):
        low, high = node_arg(node, 1, "min_val", -1.0), node_arg(node, 2, "max_val", 1.0)
    if isinstance(low, torch.fx.Node) or isinstance(high, torch.fx.Node):
        raise unsupported(node, "tensor bounds")
    x = cast_to(lw, node, lw.name_of(node.args[0]), lw.out_type(node).dtype)  # int clamped by a float is float
    return lw.emit(Op.CLAMP, [x], dict(min=low, max=high), node=node)


@converts("clamp.Tensor")
def _clamp_tensor(lw: _Lowering, node: torch.fx.Node) -> str:
    """Tensor bounds make clamp a maximum with the lower bound, then a minimum with
    the upper one (torch's order: where low > high the result is high)."""
    dtype = lw.out_type(node).dtype
    x = cast_to(lw, node, lw.name_of(node.args[0]), dtype)
    for op, bound in ((Op.MAXIMUM, node_arg(node, 1, "min")), (Op.MINIMUM, node_arg(node, 2, "max"))):
        if bound is not None:
            x = lw.emit(op, [x, cast_to(lw, node, lw.tensor(bound, dtype), dtype)], node=node, check=False)
    ours, theirs = lw.type_of(x), lw.out_type(node)
    if (ours.shape, ours.dtype) != (theirs.shape, theirs.dtype):
        raise unsupported(node, f"clamp gives {ours}, torch says {theirs}")
    return x


@converts("_to_copy.default", "to.dtype")
def _to_copy(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    target = ir_dtype(node.meta["val"].dtype, str(node.target))
    if target == lw.type_of(x).dtype:
        return x
    return lw.emit(Op.CAST, [x], dict(to=target.name), node=node)


# --- reductions ------------------------------------------------------------------------
def _axes(dims: Any, rank: int) -> tuple[int, ...]:
    """Reduction axes from torch's `dim` argument: None or [] means all of them."""
    if dims is None or dims == []:
        return tuple(range(rank))
    return tuple(positive_axis(d, rank) for d in ([dims] if isinstance(dims, int) else dims))


def _reduction(op: Op) -> Converter:
    def convert(lw: _Lowering, node: torch.fx.Node) -> Any:
        x = lw.name_of(node.args[0])
        attrs = dict(axes=_axes(node_arg(node, 1, "dim"), lw.type_of(x).rank),
                     keepdim=bool(node_arg(node, 2, "keepdim", False)))
        if str(node.target).endswith(("max.dim", "min.dim")):  # (values, indices): only values have an IR op
            return (lw.emit(op, [x], attrs, node=node, check=False), None)
        if node.kwargs.get("dtype") is not None:
            x = cast_to(lw, node, x, ir_dtype(node.kwargs["dtype"]))
        return lw.emit(op, [x], attrs, node=node)
    return convert


converts("sum.dim_IntList", "sum.default")(_reduction(Op.SUM))
converts("mean.dim", "mean.default")(_reduction(Op.MEAN))
converts("amax.default", "max.dim", "max.default")(_reduction(Op.MAX))
converts("amin.default", "min.dim", "min.default")(_reduction(Op.MIN))


@converts("linalg_vector_norm.default")
def _vector_norm(lw: _Lowering, node: torch.fx.Node) -> str:
    """The 2-norm as sqrt(sum(x * x)). Half-precision inputs are squared and summed in
    f32, as torch does: an f16 square overflows from |x| > 256."""
    if node_arg(node, 1, "ord", 2) != 2 or node.kwargs.get("dtype") is not None:
        raise unsupported(node, "only the 2-norm")
    x = lw.name_of(node.args[0])
    out_dtype = lw.out_type(node).dtype
    x = cast_to(lw, node, x, dtypes.F32) if out_dtype in (dtypes.F16, dtypes.BF16) else x
    squares = lw.emit(Op.MUL, [x, x], node=node, check=False)
    attrs = dict(axes=_axes(node_arg(node, 2, "dim"), lw.type_of(x).rank),
                 keepdim=bool(node_arg(node, 3, "keepdim", False)))
    total = lw.emit(Op.SUM, [squares], attrs, node=node, check=False)
    if lw.type_of(total).dtype == out_dtype:
        return lw.emit(Op.SQRT, [total], node=node)
    norm = lw.emit(Op.SQRT, [total], node=node, check=False)
    return lw.emit(Op.CAST, [norm], dict(to=out_dtype.name), node=node)
