"""How each core-ATen op becomes IR ops. One small function per op family.

A converter takes the lowering state and an fx node and returns the IR value name
(or a tuple of them for ops with several outputs, None where an output has no IR
counterpart). Shapes that torch resolved (`view(x, [-1, 4])`, `expand(x, [2, -1])`)
are taken from the node's recorded result, so the IR never holds a `-1`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch.fx

from bitsmith.ir import dtypes
from bitsmith.ir.errors import UnsupportedOpError
from bitsmith.ir.frontend.torch_export import ir_dtype, origin_of
from bitsmith.ir.ops import Op

if TYPE_CHECKING:
    from bitsmith.ir.frontend.torch_export import _Lowering

Converter = Callable[["_Lowering", torch.fx.Node], Any]
CONVERTERS: dict[str, Converter] = {}


def converts(*targets: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for target in targets:
            CONVERTERS[f"aten.{target}"] = fn
        return fn
    return register


def _arg(node: torch.fx.Node, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _unsupported(node: torch.fx.Node, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"unsupported {node.target}: {why} (from {origin_of(node)})")


def _axis(axis: int, rank: int) -> int:
    return axis % rank if rank else 0


# --- GEMM-like -------------------------------------------------------------------
@converts("linear.default")
def _linear(lw: _Lowering, node: torch.fx.Node) -> str:
    x, w = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    bias = _arg(node, 2, "bias")
    return lw.emit(Op.LINEAR, [x, w] + ([lw.name_of(bias)] if bias is not None else []), node=node)


@converts("mm.default", "bmm.default", "matmul.default")
def _matmul(lw: _Lowering, node: torch.fx.Node) -> str:
    a, b = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    if lw.type_of(a).rank < 2 or lw.type_of(b).rank < 2:
        raise _unsupported(node, "matrix-vector products need 2-D operands")
    return lw.emit(Op.MATMUL, [a, b], node=node)


@converts("addmm.default")
def _addmm(lw: _Lowering, node: torch.fx.Node) -> str:
    if _arg(node, 3, "beta", 1) != 1 or _arg(node, 4, "alpha", 1) != 1:
        raise _unsupported(node, "beta/alpha other than 1")
    bias, a, b = (lw.name_of(arg) for arg in node.args[:3])
    product = lw.emit(Op.MATMUL, [a, b], node=node)
    return lw.emit(Op.ADD, [product, bias], node=node)


@converts("convolution.default")
def _convolution(lw: _Lowering, node: torch.fx.Node) -> str:
    x, w, bias, stride, padding, dilation, transposed, _, groups = node.args
    if transposed or lw.type_of(lw.name_of(x)).rank != 4:
        raise _unsupported(node, "only 2-D, non-transposed convolutions are in the IR")
    if isinstance(padding, str):
        raise _unsupported(node, f"padding mode {padding!r}")
    inputs = [lw.name_of(x), lw.name_of(w)] + ([lw.name_of(bias)] if bias is not None else [])
    attrs = dict(stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation), groups=groups)
    return lw.emit(Op.CONV2D, inputs, attrs, node=node, layout="NCHW")


@converts("scaled_dot_product_attention.default")
def _attention(lw: _Lowering, node: torch.fx.Node) -> str:
    q, k, v = (lw.name_of(a) for a in node.args[:3])
    mask = _arg(node, 3, "attn_mask")
    if _arg(node, 4, "dropout_p", 0.0) != 0.0:
        raise _unsupported(node, "attention dropout")
    q_type = lw.type_of(q)
    scale = _arg(node, 6, "scale")
    if _arg(node, 7, "enable_gqa", False):
        k, v = (_repeat_kv_heads(lw, node, t, q_type.shape[-3]) for t in (k, v))
    attrs = dict(scale=float(scale if scale is not None else 1 / math.sqrt(q_type.shape[-1])),
                 causal=bool(_arg(node, 5, "is_causal", False)))
    inputs = [q, k, v] + ([lw.name_of(mask)] if mask is not None else [])
    return lw.emit(Op.ATTENTION, inputs, attrs, node=node)


def _repeat_kv_heads(lw: _Lowering, node: torch.fx.Node, name: str, heads: int) -> str:
    """Grouped-query attention: kv head j serves query heads j*r .. j*r+r-1."""
    shape = lw.type_of(name).shape
    kv_heads, rep = shape[-3], heads // shape[-3]
    if rep == 1:
        return name
    grouped = shape[:-2] + (1,) + shape[-2:]
    x = lw.emit(Op.RESHAPE, [name], dict(shape=grouped), node=node, check=False)
    x = lw.emit(Op.EXPAND, [x], dict(shape=shape[:-2] + (rep,) + shape[-2:]), node=node, check=False)
    return lw.emit(Op.RESHAPE, [x], dict(shape=shape[:-3] + (kv_heads * rep,) + shape[-2:]), node=node, check=False)


# --- gathers ---------------------------------------------------------------------
@converts("embedding.default")
def _embedding(lw: _Lowering, node: torch.fx.Node) -> str:
    return lw.emit(Op.EMBEDDING, [lw.name_of(node.args[0]), lw.name_of(node.args[1])], node=node)


@converts("index.Tensor")
def _index(lw: _Lowering, node: torch.fx.Node) -> str:
    """Advanced indexing with compile-time index tensors becomes one flat gather."""
    x = lw.name_of(node.args[0])
    shape = lw.type_of(x).shape
    indices = node.args[1]
    if len(indices) != len(shape) or any(i is None for i in indices):
        raise _unsupported(node, "indexing must give an index tensor for every axis")
    arrays = []
    for index in indices:
        name = lw.env.get(index)
        const = lw.tensors.get(name) if isinstance(name, str) else None
        if const is None or name in lw.parameters or const.device.type == "meta":
            raise _unsupported(node, "index tensors must be known at compile time")
        arrays.append(const.numpy())
    import numpy as np

    flat = np.ravel_multi_index(np.broadcast_arrays(*[a % d for a, d in zip(arrays, shape)]), shape)
    return lw.emit(Op.TAKE, [x, lw.builder.constant(f"{node.name}_indices", data=flat.astype(np.int64), origin="folded")],
                   node=node)


# --- normalisation ---------------------------------------------------------------
@converts("layer_norm.default", "native_layer_norm.default")
def _layer_norm(lw: _Lowering, node: torch.fx.Node) -> Any:
    x, shape = lw.name_of(node.args[0]), node.args[1]
    weight, bias, eps = _arg(node, 2, "weight"), _arg(node, 3, "bias"), _arg(node, 4, "eps", 1e-5)
    if bias is not None and weight is None:  # torch allows a bias without a weight
        import numpy as np

        weight = lw.builder.constant(f"{node.name}_ones", data=np.ones(shape, lw.type_of(x).dtype.to_numpy()))
    inputs = [x] + [lw.name_of(p) if isinstance(p, torch.fx.Node) else p for p in (weight, bias) if p is not None]
    attrs = dict(eps=float(eps), ndim=len(shape))
    if str(node.target).endswith("native_layer_norm.default"):
        return (lw.emit(Op.LAYER_NORM, inputs, attrs, node=node, check=False), None, None)
    return lw.emit(Op.LAYER_NORM, inputs, attrs, node=node)


@converts("rms_norm.default")
def _rms_norm(lw: _Lowering, node: torch.fx.Node) -> str:
    x, shape = lw.name_of(node.args[0]), node.args[1]
    weight, eps = _arg(node, 2, "weight"), _arg(node, 3, "eps")
    if eps is None:
        eps = float(torch.finfo(node.meta["val"].dtype).eps)  # torch's default
    inputs = [x] + ([lw.name_of(weight)] if weight is not None else [])
    return lw.emit(Op.RMS_NORM, inputs, dict(eps=float(eps), ndim=len(shape)), node=node)


@converts("_native_batch_norm_legit_no_training.default")
def _batch_norm(lw: _Lowering, node: torch.fx.Node) -> tuple:
    """Inference batch-norm is a per-channel scale and shift, computed here from the
    statistics; `cleanup.fold_affine_into_conv` then folds it into a preceding conv."""
    x, weight, bias, mean, var, _, eps = node.args
    x_name = lw.name_of(x)
    channels = lw.type_of(x_name).shape[1]
    tensors = [lw.tensors.get(lw.env.get(a)) if a is not None else None for a in (weight, bias, mean, var)]
    if any(t is None for t, a in zip(tensors, (weight, bias, mean, var)) if a is not None):
        raise _unsupported(node, "batch-norm statistics must be constants")
    w, b, mu, sigma2 = tensors
    with torch.no_grad():
        scale = torch.rsqrt(sigma2 + eps) * (w if w is not None else 1.0)
        shift = (b if b is not None else 0.0) - mu * scale
    rank = lw.type_of(x_name).rank
    shape = (channels,) + (1,) * (rank - 2)
    scale_c = lw.add_tensor_constant(f"{node.name}_scale", scale.reshape(shape), "parameter")
    shift_c = lw.add_tensor_constant(f"{node.name}_shift", shift.reshape(shape), "parameter")
    lw.parameters.update((scale_c, shift_c))
    scaled = lw.emit(Op.MUL, [x_name, scale_c], node=node, check=False)
    return (lw.emit(Op.ADD, [scaled, shift_c], node=node, check=False, layout=lw.type_of(x_name).layout), None, None)


@converts("_softmax.default", "softmax.int")
def _softmax(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.SOFTMAX, [x], dict(axis=_axis(node.args[1], lw.type_of(x).rank)), node=node)


@converts("_log_softmax.default", "log_softmax.int")
def _log_softmax(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.LOG_SOFTMAX, [x], dict(axis=_axis(node.args[1], lw.type_of(x).rank)), node=node)


# --- elementwise ---------------------------------------------------------------------
def _operands(lw: _Lowering, node: torch.fx.Node, count: int = 2) -> list[str]:
    """Tensor operands of an elementwise op; Python scalars become literals of the
    result's dtype (of the tensor operand's, for comparisons)."""
    args = list(node.args[:count])
    tensors = [lw.type_of(lw.name_of(a)).dtype for a in args if isinstance(a, torch.fx.Node)]
    like = lw.out_type(node).dtype
    if like == dtypes.BOOL and tensors:
        like = tensors[0]
    return [lw.tensor(a, like) for a in args]


def _binary(op: Op) -> Converter:
    def convert(lw: _Lowering, node: torch.fx.Node) -> str:
        alpha = node.kwargs.get("alpha", 1)
        a, b = _operands(lw, node)
        if alpha != 1:
            b = lw.emit(Op.MUL, [b, lw.literal(alpha, lw.type_of(b).dtype)], node=node, check=False)
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
    Op.AND: ("logical_and.default", "bitwise_and.Tensor"),
    Op.OR: ("logical_or.default", "bitwise_or.Tensor"),
}.items():
    converts(*_names)(_binary(_op))


@converts("rsub.Scalar", "rsub.Tensor")
def _rsub(lw: _Lowering, node: torch.fx.Node) -> str:
    a, b = _operands(lw, node)
    alpha = node.kwargs.get("alpha", 1)
    if alpha != 1:
        a = lw.emit(Op.MUL, [a, lw.literal(alpha, lw.type_of(a).dtype)], node=node, check=False)
    return lw.emit(Op.SUB, [b, a], node=node)


@converts("div.Tensor_mode")
def _div_mode(lw: _Lowering, node: torch.fx.Node) -> str:
    if node.kwargs.get("rounding_mode") is not None:
        raise _unsupported(node, f"rounding_mode={node.kwargs['rounding_mode']!r}")
    return _binary(Op.DIV)(lw, node)


@converts("where.self", "where.ScalarSelf", "where.ScalarOther", "where.Scalar")
def _where(lw: _Lowering, node: torch.fx.Node) -> str:
    cond = lw.name_of(node.args[0])
    like = lw.out_type(node).dtype
    return lw.emit(Op.WHERE, [cond, lw.tensor(node.args[1], like), lw.tensor(node.args[2], like)], node=node)


@converts("masked_fill.Scalar", "masked_fill.Tensor")
def _masked_fill(lw: _Lowering, node: torch.fx.Node) -> str:
    x, mask = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    return lw.emit(Op.WHERE, [mask, lw.tensor(node.args[2], lw.type_of(x).dtype), x], node=node)


def _unary(op: Op) -> Converter:
    return lambda lw, node: lw.emit(op, [lw.name_of(node.args[0])], node=node)


for _op, _names in {
    Op.NEG: ("neg.default",), Op.ABS: ("abs.default",), Op.EXP: ("exp.default",), Op.LOG: ("log.default",),
    Op.SQRT: ("sqrt.default",), Op.RSQRT: ("rsqrt.default",), Op.RECIPROCAL: ("reciprocal.default",),
    Op.SIN: ("sin.default",), Op.COS: ("cos.default",), Op.TANH: ("tanh.default",), Op.ERF: ("erf.default",),
    Op.SIGMOID: ("sigmoid.default",), Op.RELU: ("relu.default",), Op.SILU: ("silu.default",),
    Op.NOT: ("logical_not.default", "bitwise_not.default"),
}.items():
    converts(*_names)(_unary(_op))


@converts("gelu.default")
def _gelu(lw: _Lowering, node: torch.fx.Node) -> str:
    return lw.emit(Op.GELU, [lw.name_of(node.args[0])],
                   dict(approximate=node.kwargs.get("approximate", "none")), node=node)


@converts("clamp.default", "clamp_min.default", "clamp_max.default", "hardtanh.default")
def _clamp(lw: _Lowering, node: torch.fx.Node) -> str:
    target = str(node.target)
    low, high = _arg(node, 1, "min"), _arg(node, 2, "max")
    if target.endswith("clamp_max.default"):
        low, high = None, node.args[1]
    elif target.endswith("hardtanh.default"):
        low, high = _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)
    if isinstance(low, torch.fx.Node) or isinstance(high, torch.fx.Node):
        raise _unsupported(node, "tensor bounds")
    return lw.emit(Op.CLAMP, [lw.name_of(node.args[0])], dict(min=low, max=high), node=node)


@converts("_to_copy.default", "to.dtype")
def _to_copy(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    target = ir_dtype(node.meta["val"].dtype, str(node.target))
    if target == lw.type_of(x).dtype:
        return x
    return lw.emit(Op.CAST, [x], dict(to=target.name), node=node)


# --- reductions ------------------------------------------------------------------------
def _reduction(op: Op) -> Converter:
    def convert(lw: _Lowering, node: torch.fx.Node) -> Any:
        x = lw.name_of(node.args[0])
        rank = lw.type_of(x).rank
        dims = _arg(node, 1, "dim")
        axes = tuple(range(rank)) if dims is None or dims == [] else tuple(
            _axis(d, rank) for d in ([dims] if isinstance(dims, int) else dims))
        keepdim = bool(_arg(node, 2, "keepdim", False))
        if str(node.target).endswith("max.dim") or str(node.target).endswith("min.dim"):
            return (lw.emit(op, [x], dict(axes=axes, keepdim=keepdim), node=node, check=False), None)
        if node.kwargs.get("dtype") is not None:
            x = lw.emit(Op.CAST, [x], dict(to=ir_dtype(node.kwargs["dtype"]).name), node=node, check=False)
        return lw.emit(op, [x], dict(axes=axes, keepdim=keepdim), node=node)
    return convert


converts("sum.dim_IntList", "sum.default")(_reduction(Op.SUM))
converts("mean.dim", "mean.default")(_reduction(Op.MEAN))
converts("amax.default", "max.dim")(_reduction(Op.MAX))
converts("amin.default", "min.dim")(_reduction(Op.MIN))


@converts("linalg_vector_norm.default")
def _vector_norm(lw: _Lowering, node: torch.fx.Node) -> str:
    if _arg(node, 1, "ord", 2) != 2 or node.kwargs.get("dtype") is not None:
        raise _unsupported(node, "only the 2-norm")
    x = lw.name_of(node.args[0])
    rank = lw.type_of(x).rank
    dims = _arg(node, 2, "dim")
    axes = tuple(range(rank)) if dims is None else tuple(_axis(d, rank) for d in dims)
    squares = lw.emit(Op.MUL, [x, x], node=node, check=False)
    total = lw.emit(Op.SUM, [squares], dict(axes=axes, keepdim=bool(_arg(node, 3, "keepdim", False))),
                    node=node, check=False)
    return lw.emit(Op.SQRT, [total], node=node)


# --- data movement ----------------------------------------------------------------------
@converts("view.default", "_unsafe_view.default", "reshape.default", "unsqueeze.default", "squeeze.default",
          "squeeze.dim", "squeeze.dims", "flatten.using_ints")
def _reshape(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    shape = lw.out_type(node).shape
    if shape == lw.type_of(x).shape:
        return x
    return lw.emit(Op.RESHAPE, [x], dict(shape=shape), node=node)


@converts("permute.default", "t.default", "transpose.int", "numpy_T.default")
def _permute(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    rank = lw.type_of(x).rank
    target = str(node.target)
    if target.endswith("permute.default"):
        perm = tuple(_axis(d, rank) for d in node.args[1])
    elif target.endswith("transpose.int"):
        perm = list(range(rank))
        a, b = _axis(node.args[1], rank), _axis(node.args[2], rank)
        perm[a], perm[b] = perm[b], perm[a]
        perm = tuple(perm)
    else:
        perm = tuple(reversed(range(rank)))
    if perm == tuple(range(rank)):
        return x
    return lw.emit(Op.PERMUTE, [x], dict(perm=perm), node=node)


@converts("expand.default")
def _expand(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    shape = lw.out_type(node).shape
    if shape == lw.type_of(x).shape:
        return x
    return lw.emit(Op.EXPAND, [x], dict(shape=shape), node=node)


@converts("cat.default", "concat.default")
def _cat(lw: _Lowering, node: torch.fx.Node) -> str:
    parts = [lw.name_of(a) for a in node.args[0]]
    parts = [p for p in parts if lw.type_of(p).numel > 0] or parts[:1]  # torch skips empty inputs
    if len(parts) == 1:
        return parts[0]
    axis = _axis(_arg(node, 1, "dim", 0), lw.type_of(parts[0]).rank)
    return lw.emit(Op.CONCAT, parts, dict(axis=axis), node=node)


def _slice_attrs(size: int, start: Any, end: Any, step: Any) -> dict[str, int]:
    start, end, _ = slice(start, end).indices(size)
    return dict(start=start, end=max(end, start), step=int(step or 1))


@converts("slice.Tensor")
def _slice(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = _axis(_arg(node, 1, "dim", 0), t.rank)
    attrs = _slice_attrs(t.shape[axis], _arg(node, 2, "start"), _arg(node, 3, "end"), _arg(node, 4, "step", 1))
    if attrs == dict(start=0, end=t.shape[axis], step=1):
        return x
    return lw.emit(Op.SLICE, [x], dict(axis=axis, **attrs), node=node)


@converts("select.int")
def _select(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis, index = _axis(node.args[1], t.rank), node.args[2] % lw.type_of(x).shape[_axis(node.args[1], t.rank)]
    one = lw.emit(Op.SLICE, [x], dict(axis=axis, start=index, end=index + 1, step=1), node=node, check=False)
    return lw.emit(Op.RESHAPE, [one], dict(shape=lw.out_type(node).shape), node=node)


@converts("split_with_sizes.default", "split.Tensor")
def _split(lw: _Lowering, node: torch.fx.Node) -> tuple:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = _axis(_arg(node, 2, "dim", 0), t.rank)
    sizes = node.args[1]
    if isinstance(sizes, int):
        sizes = [min(sizes, t.shape[axis] - i) for i in range(0, t.shape[axis], sizes)]
    parts, start = [], 0
    for size in sizes:
        parts.append(lw.emit(Op.SLICE, [x], dict(axis=axis, start=start, end=start + size, step=1),
                             node=node, check=False))
        start += size
    return tuple(parts)


@converts("unbind.int")
def _unbind(lw: _Lowering, node: torch.fx.Node) -> tuple:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = _axis(_arg(node, 1, "dim", 0), t.rank)
    shape = t.shape[:axis] + t.shape[axis + 1:]
    parts = []
    for i in range(t.shape[axis]):
        one = lw.emit(Op.SLICE, [x], dict(axis=axis, start=i, end=i + 1, step=1), node=node, check=False)
        parts.append(lw.emit(Op.RESHAPE, [one], dict(shape=shape), node=node, check=False))
    return tuple(parts)


# --- pooling --------------------------------------------------------------------------------
def _pair(value: Any) -> tuple[int, int]:
    value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    return (value[0], value[0]) if len(value) == 1 else (value[0], value[1])


@converts("max_pool2d_with_indices.default", "max_pool2d.default")
def _max_pool(lw: _Lowering, node: torch.fx.Node) -> Any:
    x = lw.name_of(node.args[0])
    kernel = _pair(node.args[1])
    attrs = dict(kernel=kernel, stride=_pair(_arg(node, 2, "stride") or kernel), padding=_pair(_arg(node, 3, "padding", 0)),
                 dilation=_pair(_arg(node, 4, "dilation", 1)), ceil_mode=bool(_arg(node, 5, "ceil_mode", False)))
    if str(node.target).endswith("with_indices.default"):
        return (lw.emit(Op.MAX_POOL2D, [x], attrs, node=node, check=False, layout="NCHW"), None)
    return lw.emit(Op.MAX_POOL2D, [x], attrs, node=node, layout="NCHW")


@converts("avg_pool2d.default")
def _avg_pool(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    if _arg(node, 6, "divisor_override") is not None:
        raise _unsupported(node, "divisor_override")
    kernel = _pair(node.args[1])
    attrs = dict(kernel=kernel, stride=_pair(_arg(node, 2, "stride") or kernel), padding=_pair(_arg(node, 3, "padding", 0)),
                 ceil_mode=bool(_arg(node, 4, "ceil_mode", False)),
                 count_include_pad=bool(_arg(node, 5, "count_include_pad", True)))
    return lw.emit(Op.AVG_POOL2D, [x], attrs, node=node, layout="NCHW")


@converts("_adaptive_avg_pool2d.default", "adaptive_avg_pool2d.default")
def _adaptive_pool(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.ADAPTIVE_AVG_POOL2D, [x], dict(output_size=_pair(node.args[1])), node=node, layout="NCHW")
