"""The reference interpreter: runs a graph in numpy, op by op.

This is the golden model the simulator's functional outputs and the TVM backend
are checked against, so every kernel here is the plainest correct formulation,
written from the op's definition rather than for speed. Each result is cast to the
node's declared dtype, so numpy's own type promotion never leaks into the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_dtypes
import numpy as np
from scipy import special

from bitsmith.ir.errors import InterpretError
from bitsmith.ir.formats.fake_quant import fake_quantize
from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.ops import Op

Array = np.ndarray
Kernel = Callable[[Sequence[Array], Mapping[str, Any]], Array]


def interpret(graph: Graph, inputs: Mapping[str, Array] | Sequence[Array]) -> list[Array]:
    """Run `graph` on `inputs` (by name, or in graph-input order); returns its outputs."""
    env = bind_inputs(graph, inputs)
    for const in graph.constants:
        if const.data is None:
            raise InterpretError(f"graph {graph.name} is shape-only: constant %{const.name} has no data")
        env[const.name] = const.data
    last_use = {name: i for i, node in enumerate(graph.nodes) for name in node.inputs}
    keep = set(graph.outputs)
    for i, node in enumerate(graph.nodes):
        args = [env[name] for name in node.inputs]
        env[node.name] = run_node(node, args)
        for name in set(node.inputs):
            if last_use[name] == i and name not in keep:
                del env[name]
    return [np.asarray(env[name]) for name in graph.outputs]


def run_node(node: Node, args: Sequence[Array]) -> Array:
    """One node's result, cast to its declared dtype. Half-precision operands (f16,
    bf16) are computed on in f32 and the result rounded once, as torch does on CPU
    (its "opmath" type): a layer norm or softmax over thousands of f16 values must
    not accumulate an f16 rounding error per element."""
    args = [a.astype(np.float32) if a.dtype in _HALF else a for a in args]
    with np.errstate(all="ignore"):  # inf/nan follow IEEE rules, as in torch; casting them to ints is allowed too
        result = _KERNELS[node.op](args, node.attrs)
        return np.asarray(result, dtype=node.type.dtype.to_numpy())


_HALF = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def bind_inputs(graph: Graph, inputs: Mapping[str, Array] | Sequence[Array]) -> dict[str, Array]:
    """`inputs` (by name, or in graph-input order) as {input name: array}, each
    checked against its declared type; raises InterpretError naming the input."""
    if not isinstance(inputs, Mapping):
        inputs = list(inputs)
        if len(inputs) != len(graph.inputs):
            raise InterpretError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
        inputs = {v.name: a for v, a in zip(graph.inputs, inputs)}
    missing = [v.name for v in graph.inputs if v.name not in inputs]
    if missing:
        raise InterpretError(f"graph {graph.name}: missing input %{missing[0]}")
    env: dict[str, Array] = {}
    for value in graph.inputs:
        array = np.asarray(inputs[value.name])
        expected = value.type.dtype.to_numpy()
        if array.shape != value.type.shape or array.dtype != expected:
            raise InterpretError(
                f"input %{value.name}: expected {value.type}, got {array.dtype}{list(array.shape)}")
        env[value.name] = array
    return env


# --- GEMM-like ---------------------------------------------------------------
def _linear(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    out = np.matmul(args[0], args[1].T)
    return out + args[2] if len(args) == 3 else out


def _conv2d(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x, w = args[0], args[1]
    (sh, sw), (ph, pw), (dh, dw), groups = attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"]
    n, c, _, _ = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    windows = np.lib.stride_tricks.sliding_window_view(x, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # [n, c, oh, ow, kh, kw]
    oh, ow = windows.shape[2:4]
    # im2col per group: [n, g, oh, ow, cg*kh*kw] @ [g, cg*kh*kw, o/g]
    cols = windows.reshape(n, groups, cg, oh, ow, kh * kw).transpose(0, 1, 3, 4, 2, 5)
    cols = cols.reshape(n, groups, oh * ow, cg * kh * kw)
    kernels = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    out = np.matmul(cols, kernels)  # [n, g, oh*ow, o/g]
    out = out.transpose(0, 1, 3, 2).reshape(n, o, oh, ow)
    return out + args[2].reshape(1, o, 1, 1) if len(args) == 3 else out


def _attention(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    q, k, v = args[:3]
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.asarray(attrs["scale"], dtype=q.dtype)
    sq, skv = scores.shape[-2:]
    if attrs["causal"]:
        scores = np.where(np.tril(np.ones((sq, skv), dtype=bool)), scores, -np.inf)
    if len(args) == 4:
        mask = args[3]
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    return np.matmul(_softmax_axis(scores, -1), v)


# --- normalisation -------------------------------------------------------------
def _softmax_axis(x: Array, axis: int) -> Array:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _norm_axes(x: Array, ndim: int) -> tuple[int, ...]:
    return tuple(range(x.ndim - ndim, x.ndim))


def _layer_norm(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    axes = _norm_axes(x, attrs["ndim"])
    mean = np.mean(x, axis=axes, keepdims=True)
    var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + np.asarray(attrs["eps"], dtype=x.dtype))
    if len(args) > 1:
        out = out * args[1]
    if len(args) > 2:
        out = out + args[2]
    return out


def _rms_norm(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    ms = np.mean(np.square(x), axis=_norm_axes(x, attrs["ndim"]), keepdims=True)
    out = x / np.sqrt(ms + np.asarray(attrs["eps"], dtype=x.dtype))
    return out * args[1] if len(args) > 1 else out


def _log_softmax(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    shifted = x - np.max(x, axis=attrs["axis"], keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=attrs["axis"], keepdims=True))


# --- elementwise -----------------------------------------------------------------
def _gelu(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    if attrs["approximate"] == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + special.erf(x / math.sqrt(2)))


def _unary(fn: Callable[[Array], Array]) -> Kernel:
    return lambda args, attrs: fn(args[0])


def _binary(fn: Callable[[Array, Array], Array]) -> Kernel:
    return lambda args, attrs: fn(args[0], args[1])


def _reduction(fn: Callable[..., Array]) -> Kernel:
    return lambda args, attrs: fn(args[0], axis=tuple(attrs["axes"]), keepdims=attrs["keepdim"])


def _clamp(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    if attrs["min"] is not None:
        x = np.maximum(x, attrs["min"])
    return x if attrs["max"] is None else np.minimum(x, attrs["max"])


# --- data movement -----------------------------------------------------------------
def _slice(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    index = [slice(None)] * args[0].ndim
    index[attrs["axis"]] = slice(attrs["start"], attrs["end"], attrs["step"])
    return args[0][tuple(index)]


# --- pooling -------------------------------------------------------------------------
def _pool_windows(x: Array, attrs: Mapping[str, Any], fill: float) -> Array:
    """Sliding windows [n, c, oh, ow, kh, kw] over x padded with `fill`; ceil_mode
    pads the bottom/right edge far enough for the last partial window."""
    from bitsmith.ir.shapes import conv_out

    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel"], attrs["stride"], attrs["padding"]
    dh, dw = attrs.get("dilation", (1, 1))
    oh = conv_out(x.shape[2], kh, sh, ph, dh, attrs["ceil_mode"])
    ow = conv_out(x.shape[3], kw, sw, pw, dw, attrs["ceil_mode"])
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (x.shape[2] + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (x.shape[3] + 2 * pw))
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=fill)
    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = np.lib.stride_tricks.sliding_window_view(x, spans, axis=(2, 3))
    return windows[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _max_pool2d(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    return _pool_windows(args[0], attrs, -np.inf).max(axis=(4, 5))


def _avg_divisors(size: int, out: int, kernel: int, stride: int, pad: int, include_pad: bool) -> Array:
    """Per-output-position element counts along one axis, by torch's avg_pool2d rule."""
    starts = np.arange(out) * stride - pad
    ends = np.minimum(starts + kernel, size + pad)
    if include_pad:
        return ends - starts
    return np.minimum(ends, size) - np.maximum(starts, 0)


def _avg_pool2d(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    sums = _pool_windows(x, attrs, 0.0).sum(axis=(4, 5))
    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel"], attrs["stride"], attrs["padding"]
    include = attrs["count_include_pad"]
    div_h = _avg_divisors(x.shape[2], sums.shape[2], kh, sh, ph, include)
    div_w = _avg_divisors(x.shape[3], sums.shape[3], kw, sw, pw, include)
    return sums / np.outer(div_h, div_w).astype(x.dtype)


def _adaptive_avg_pool2d(args: Sequence[Array], attrs: Mapping[str, Any]) -> Array:
    x = args[0]
    (oh, ow), (h, w) = attrs["output_size"], x.shape[2:]
    out = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


_KERNELS: dict[Op, Kernel] = {
    Op.LINEAR: _linear,
    Op.MATMUL: _binary(np.matmul),
    Op.CONV2D: _conv2d,
    Op.ATTENTION: _attention,
    Op.EMBEDDING: lambda args, attrs: args[0][args[1]],
    Op.LAYER_NORM: _layer_norm,
    Op.RMS_NORM: _rms_norm,
    Op.SOFTMAX: lambda args, attrs: _softmax_axis(args[0], attrs["axis"]),
    Op.LOG_SOFTMAX: _log_softmax,
    Op.ADD: _binary(np.add),
    Op.SUB: _binary(np.subtract),
    Op.MUL: _binary(np.multiply),
    Op.DIV: _binary(np.true_divide),
    Op.POW: _binary(np.power),
    Op.MAXIMUM: _binary(np.maximum),
    Op.MINIMUM: _binary(np.minimum),
    Op.EQ: _binary(np.equal),
    Op.NE: _binary(np.not_equal),
    Op.LT: _binary(np.less),
    Op.LE: _binary(np.less_equal),
    Op.GT: _binary(np.greater),
    Op.GE: _binary(np.greater_equal),
    Op.AND: _binary(np.logical_and),
    Op.OR: _binary(np.logical_or),
    Op.WHERE: lambda args, attrs: np.where(args[0], args[1], args[2]),
    Op.NEG: _unary(np.negative),
    Op.ABS: _unary(np.abs),
    Op.EXP: _unary(np.exp),
    Op.LOG: _unary(np.log),
    Op.SQRT: _unary(np.sqrt),
    Op.RSQRT: _unary(lambda x: 1 / np.sqrt(x)),
    Op.RECIPROCAL: _unary(lambda x: 1 / x),
    Op.SIN: _unary(np.sin),
    Op.COS: _unary(np.cos),
    Op.TANH: _unary(np.tanh),
    Op.ERF: _unary(special.erf),
    Op.SIGMOID: _unary(special.expit),
    Op.RELU: _unary(lambda x: np.maximum(x, 0)),
    Op.GELU: _gelu,
    Op.SILU: _unary(lambda x: x * special.expit(x)),
    Op.NOT: _unary(np.logical_not),
    Op.CLAMP: _clamp,
    Op.CAST: lambda args, attrs: args[0],  # run_node casts to the declared dtype
    Op.FAKE_QUANT: lambda args, attrs: fake_quantize(args[0], **attrs),
    Op.SUM: _reduction(np.sum),
    Op.MEAN: _reduction(np.mean),
    Op.MAX: _reduction(np.max),
    Op.MIN: _reduction(np.min),
    Op.RESHAPE: lambda args, attrs: args[0].reshape(attrs["shape"]),
    Op.PERMUTE: lambda args, attrs: args[0].transpose(attrs["perm"]),
    Op.EXPAND: lambda args, attrs: np.broadcast_to(args[0], attrs["shape"]),
    Op.CONCAT: lambda args, attrs: np.concatenate(args, axis=attrs["axis"]),
    Op.SLICE: _slice,
    Op.TAKE: lambda args, attrs: args[0].reshape(-1)[args[1]],
    Op.MAX_POOL2D: _max_pool2d,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.ADAPTIVE_AVG_POOL2D: _adaptive_avg_pool2d,
}
assert set(_KERNELS) == set(Op), set(Op) - set(_KERNELS)
