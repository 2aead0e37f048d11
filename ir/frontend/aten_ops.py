"""How each core-ATen op becomes IR ops, one small function per op family: GEMMs,
gathers, normalisation, data movement and pooling here; elementwise ops and
reductions in `aten_elementwise.py`. Importing this module registers them all in
`CONVERTERS`.

Shapes that torch resolved (`view(x, [-1, 4])`, `expand(x, [2, -1])`) are taken
from the node's recorded result, so the IR never holds a `-1`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch.fx

from bitsmith.ir.frontend.aten_elementwise import cast_to
from bitsmith.ir.frontend.converters import CONVERTERS, Converter, converts, node_arg, positive_axis, unsupported
from bitsmith.ir.ops import Op

if TYPE_CHECKING:
    from bitsmith.ir.frontend.torch_export import _Lowering

__all__ = ["CONVERTERS"]


# --- GEMM-like -------------------------------------------------------------------
@converts("linear.default")
def _linear(lw: _Lowering, node: torch.fx.Node) -> str:
    x, w = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    bias = node_arg(node, 2, "bias")
    return lw.emit(Op.LINEAR, [x, w] + ([lw.name_of(bias)] if bias is not None else []), node=node)


@converts("mm.default", "bmm.default", "matmul.default")
def _matmul(lw: _Lowering, node: torch.fx.Node) -> str:
    a, b = lw.name_of(node.args[0]), lw.name_of(node.args[1])
    if lw.type_of(a).rank < 2 or lw.type_of(b).rank < 2:
        raise unsupported(node, "matrix-vector products need 2-D operands")
    return lw.emit(Op.MATMUL, [a, b], node=node)


@converts("addmm.default")
def _addmm(lw: _Lowering, node: torch.fx.Node) -> str:
    if node_arg(node, 3, "beta", 1) != 1 or node_arg(node, 4, "alpha", 1) != 1:
        raise unsupported(node, "beta/alpha other than 1")
    bias, a, b = (lw.name_of(arg) for arg in node.args[:3])
    product = lw.emit(Op.MATMUL, [a, b], node=node)
    return lw.emit(Op.ADD, [product, bias], node=node)


@converts("convolution.default")
def _convolution(lw: _Lowering, node: torch.fx.Node) -> str:
    x, w, bias, stride, padding, dilation, transposed, _, groups = node.args
    if transposed or lw.type_of(lw.name_of(x)).rank != 4:
        raise unsupported(node, "only 2-D, non-transposed convolutions are in the IR")
    if isinstance(padding, str):
        raise unsupported(node, f"padding mode {padding!r}")
    inputs = [lw.name_of(x), lw.name_of(w)] + ([lw.name_of(bias)] if bias is not None else [])
    attrs = dict(stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation), groups=groups)
    return lw.emit(Op.CONV2D, inputs, attrs, node=node, layout="NCHW")


@converts("scaled_dot_product_attention.default")
def _attention(lw: _Lowering, node: torch.fx.Node) -> str:
    q, k, v = (lw.name_of(a) for a in node.args[:3])
    mask = node_arg(node, 3, "attn_mask")
    if node_arg(node, 4, "dropout_p", 0.0) != 0.0:
        raise unsupported(node, "attention dropout")
    q_type = lw.type_of(q)
    scale = node_arg(node, 6, "scale")
    if node_arg(node, 7, "enable_gqa", False):
        k, v = (_repeat_kv_heads(lw, node, t, q_type.shape[-3]) for t in (k, v))
    attrs = dict(scale=float(scale if scale is not None else 1 / math.sqrt(q_type.shape[-1])),
                 causal=bool(node_arg(node, 5, "is_causal", False)))
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
    """Advanced indexing with compile-time index tensors becomes one flat gather.
    The flat indices are those of the same indexing applied to numpy's `arange`, so
    every rule torch shares with numpy (axes left out or given as `:`, negative
    indices, index tensors broadcast, split index axes moving to the front) holds."""
    x = lw.name_of(node.args[0])
    shape = lw.type_of(x).shape
    index: list[Any] = []
    for arg in node.args[1]:
        if arg is None:
            index.append(slice(None))
            continue
        name = lw.env.get(arg)
        const = lw.tensors.get(name) if isinstance(name, str) else None
        if const is None or name in lw.parameters or const.device.type == "meta":
            raise unsupported(node, "index tensors must be known at compile time")
        index.append(const.numpy())
    flat = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[tuple(index)]
    indices = lw.builder.constant(f"{node.name}_indices", data=flat, origin="folded")
    return lw.emit(Op.TAKE, [x, indices], node=node)


# --- normalisation ---------------------------------------------------------------
@converts("layer_norm.default", "native_layer_norm.default")
def _layer_norm(lw: _Lowering, node: torch.fx.Node) -> Any:
    x, shape = lw.name_of(node.args[0]), node.args[1]
    weight, bias, eps = node_arg(node, 2, "weight"), node_arg(node, 3, "bias"), node_arg(node, 4, "eps", 1e-5)
    if bias is not None and weight is None:  # torch allows a bias without a weight
        weight = lw.builder.constant(f"{node.name}_ones", data=np.ones(shape, lw.type_of(x).dtype.to_numpy()))
    inputs = [x] + [lw.name_of(p) if isinstance(p, torch.fx.Node) else p for p in (weight, bias) if p is not None]
    attrs = dict(eps=float(eps), ndim=len(shape))
    if str(node.target).endswith("native_layer_norm.default"):
        return (lw.emit(Op.LAYER_NORM, inputs, attrs, node=node, check=False), None, None)
    return lw.emit(Op.LAYER_NORM, inputs, attrs, node=node)


@converts("rms_norm.default")
def _rms_norm(lw: _Lowering, node: torch.fx.Node) -> str:
    x, shape = lw.name_of(node.args[0]), node.args[1]
    weight, eps = node_arg(node, 2, "weight"), node_arg(node, 3, "eps")
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
        raise unsupported(node, "batch-norm statistics must be constants")
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


@converts("native_group_norm.default")
def _group_norm(lw: _Lowering, node: torch.fx.Node) -> tuple:
    """Group norm normalises each group of channels over its channels and positions:
    a layer norm over the last axis of x reshaped to [N, groups, C/groups * H*W], then
    the per-channel affine as a multiply and an add."""
    x, weight, bias, n, channels, positions, groups, eps = node.args
    x = lw.name_of(x)
    shape = lw.type_of(x).shape
    grouped = (n, groups, channels // groups * positions)
    out = lw.emit(Op.RESHAPE, [x], dict(shape=grouped), node=node, check=False)
    out = lw.emit(Op.LAYER_NORM, [out], dict(eps=float(eps)), node=node, check=False)
    out = lw.emit(Op.RESHAPE, [out], dict(shape=shape), node=node, check=False, layout=lw.type_of(x).layout)
    per_channel = (channels,) + (1,) * (len(shape) - 2)
    for op, param in ((Op.MUL, weight), (Op.ADD, bias)):
        if param is not None:
            param = lw.emit(Op.RESHAPE, [lw.name_of(param)], dict(shape=per_channel), node=node, check=False)
            out = lw.emit(op, [out, param], node=node, check=False)
    return (out, None, None)


@converts("_softmax.default", "softmax.int")
def _softmax(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.SOFTMAX, [x], dict(axis=positive_axis(node.args[1], lw.type_of(x).rank)), node=node)


@converts("_log_softmax.default", "log_softmax.int")
def _log_softmax(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.LOG_SOFTMAX, [x], dict(axis=positive_axis(node.args[1], lw.type_of(x).rank)), node=node)


# --- data movement ----------------------------------------------------------------------
def _to_result_shape(op: Op) -> Converter:
    """reshape/expand to the shape torch recorded for the node (so no -1 survives);
    a no-op when the shape does not change."""
    def convert(lw: _Lowering, node: torch.fx.Node) -> str:
        x = lw.name_of(node.args[0])
        shape = lw.out_type(node).shape
        if shape == lw.type_of(x).shape:
            return x
        return lw.emit(op, [x], dict(shape=shape), node=node)
    return convert


converts("view.default", "_unsafe_view.default", "reshape.default", "unsqueeze.default", "squeeze.default",
         "squeeze.dim", "squeeze.dims", "flatten.using_ints")(_to_result_shape(Op.RESHAPE))
converts("expand.default")(_to_result_shape(Op.EXPAND))


@converts("permute.default", "t.default", "transpose.int", "numpy_T.default")
def _permute(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    rank = lw.type_of(x).rank
    target = str(node.target)
    if target.endswith("permute.default"):
        perm = tuple(positive_axis(d, rank) for d in node.args[1])
    elif target.endswith("transpose.int"):
        perm = list(range(rank))
        a, b = positive_axis(node.args[1], rank), positive_axis(node.args[2], rank)
        perm[a], perm[b] = perm[b], perm[a]
        perm = tuple(perm)
    else:
        perm = tuple(reversed(range(rank)))
    if perm == tuple(range(rank)):
        return x
    return lw.emit(Op.PERMUTE, [x], dict(perm=perm), node=node)


@converts("cat.default", "concat.default")
def _cat(lw: _Lowering, node: torch.fx.Node) -> str:
    dtype = lw.out_type(node).dtype  # torch promotes mixed inputs; the IR casts them
    parts = [cast_to(lw, node, lw.name_of(a), dtype) for a in node.args[0]]
    parts = [p for p in parts if lw.type_of(p).numel > 0] or parts[:1]  # torch skips empty inputs
    if len(parts) == 1:
        return parts[0]
    axis = positive_axis(node_arg(node, 1, "dim", 0), lw.type_of(parts[0]).rank)
    return lw.emit(Op.CONCAT, parts, dict(axis=axis), node=node)


def _slice_attrs(size: int, start: Any, end: Any, step: Any) -> dict[str, int]:
    start, end, _ = slice(start, end).indices(size)
    return dict(start=start, end=max(end, start), step=int(step or 1))


@converts("constant_pad_nd.default")
def _constant_pad(lw: _Lowering, node: torch.fx.Node) -> str:
    """Constant padding (`F.pad`) concatenates blocks of the pad value to each padded
    axis; a block is an expanded scalar, so no padding data is stored. A negative pad
    crops, as a slice. Pads come in (before, after) pairs from the last axis back."""
    x = lw.name_of(node.args[0])
    pads, value = node.args[1], node_arg(node, 2, "value", 0)
    for i in range(len(pads) // 2):
        before, after = pads[2 * i], pads[2 * i + 1]
        t = lw.type_of(x)
        axis = t.rank - 1 - i
        if before < 0 or after < 0:
            crop = dict(axis=axis, start=max(-before, 0), end=t.shape[axis] - max(-after, 0), step=1)
            x = lw.emit(Op.SLICE, [x], crop, node=node, check=False)
        parts = [_pad_block(lw, node, x, axis, before, value), x, _pad_block(lw, node, x, axis, after, value)]
        parts = [p for p in parts if p is not None]
        if len(parts) > 1:
            x = lw.emit(Op.CONCAT, parts, dict(axis=axis), node=node, check=False)
    ours, theirs = lw.type_of(x), lw.out_type(node)
    if (ours.shape, ours.dtype) != (theirs.shape, theirs.dtype):
        raise unsupported(node, f"padding gives {ours}, torch says {theirs}")
    return x


def _pad_block(lw: _Lowering, node: torch.fx.Node, x: str, axis: int, size: int, value: Any) -> str | None:
    """`size` slices of `value` shaped like `x` off `axis`, or None for no padding."""
    if size <= 0:
        return None
    t = lw.type_of(x)
    shape = t.shape[:axis] + (size,) + t.shape[axis + 1:]
    return lw.emit(Op.EXPAND, [lw.literal(value, t.dtype)], dict(shape=shape), node=node, check=False)


@converts("slice.Tensor")
def _slice(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = positive_axis(node_arg(node, 1, "dim", 0), t.rank)
    attrs = _slice_attrs(t.shape[axis], node_arg(node, 2, "start"), node_arg(node, 3, "end"),
                         node_arg(node, 4, "step", 1))
    if attrs == dict(start=0, end=t.shape[axis], step=1):
        return x
    return lw.emit(Op.SLICE, [x], dict(axis=axis, **attrs), node=node)


@converts("select.int")
def _select(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = positive_axis(node.args[1], t.rank)
    index = node.args[2] % t.shape[axis]
    one = lw.emit(Op.SLICE, [x], dict(axis=axis, start=index, end=index + 1, step=1), node=node, check=False)
    return lw.emit(Op.RESHAPE, [one], dict(shape=lw.out_type(node).shape), node=node)


@converts("split_with_sizes.default", "split.Tensor")
def _split(lw: _Lowering, node: torch.fx.Node) -> tuple:
    x = lw.name_of(node.args[0])
    t = lw.type_of(x)
    axis = positive_axis(node_arg(node, 2, "dim", 0), t.rank)
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
    axis = positive_axis(node_arg(node, 1, "dim", 0), t.rank)
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
    attrs = dict(kernel=kernel, stride=_pair(node_arg(node, 2, "stride") or kernel),
                 padding=_pair(node_arg(node, 3, "padding", 0)), dilation=_pair(node_arg(node, 4, "dilation", 1)),
                 ceil_mode=bool(node_arg(node, 5, "ceil_mode", False)))
    if str(node.target).endswith("with_indices.default"):
        return (lw.emit(Op.MAX_POOL2D, [x], attrs, node=node, check=False, layout="NCHW"), None)
    return lw.emit(Op.MAX_POOL2D, [x], attrs, node=node, layout="NCHW")


@converts("avg_pool2d.default")
def _avg_pool(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    if node_arg(node, 6, "divisor_override") is not None:
        raise unsupported(node, "divisor_override")
    kernel = _pair(node.args[1])
    attrs = dict(kernel=kernel, stride=_pair(node_arg(node, 2, "stride") or kernel),
                 padding=_pair(node_arg(node, 3, "padding", 0)),
                 ceil_mode=bool(node_arg(node, 4, "ceil_mode", False)),
                 count_include_pad=bool(node_arg(node, 5, "count_include_pad", True)))
    return lw.emit(Op.AVG_POOL2D, [x], attrs, node=node, layout="NCHW")


@converts("_adaptive_avg_pool2d.default", "adaptive_avg_pool2d.default")
def _adaptive_pool(lw: _Lowering, node: torch.fx.Node) -> str:
    x = lw.name_of(node.args[0])
    return lw.emit(Op.ADAPTIVE_AVG_POOL2D, [x], dict(output_size=_pair(node.args[1])), node=node, layout="NCHW")
