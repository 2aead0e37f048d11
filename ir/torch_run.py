"""A differentiable executor: runs a graph in torch, op by op, so gradients flow from
its outputs back to any constant the caller hands in as a tensor.

The numpy interpreter (`ir/interpret.py`) stays the golden model; this executor
exists because sensitivity analyses need d(output)/d(weight), which numpy cannot
give. Each op is written with torch's own function for it (`F.linear`,
`F.scaled_dot_product_attention`, `F.layer_norm`, ...), so autograd supplies the
backward pass, and it follows the interpreter's semantics where they are a choice:
half-precision operands (f16, bf16) are computed on in f32 and every result is
cast once to the node's declared dtype. Tests hold it to `interpret` op by op and on
every small zoo model.

Imports torch at module level: `bitsmith.ir` does not import this module, so
loading and interpreting a graph still never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

from bitsmith.ir.errors import InterpretError
from bitsmith.ir.formats.fake_quant import fake_quantize
from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.interpret import bind_inputs
from bitsmith.ir.ops import Op

Kernel = Callable[[Sequence[torch.Tensor], Mapping[str, Any]], torch.Tensor]

TORCH_DTYPES: dict[str, torch.dtype] = {
    "f64": torch.float64, "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
    "i64": torch.int64, "i32": torch.int32, "i16": torch.int16, "i8": torch.int8, "u8": torch.uint8,
    "bool": torch.bool,
}
_HALF = (torch.float16, torch.bfloat16)


def to_torch(array: np.ndarray) -> torch.Tensor:
    """`array` as a tensor of the same dtype (bf16 included, which torch.from_numpy
    cannot read), copied so the graph's read-only data is never aliased."""
    if array.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.array(array, copy=True))


def run_torch(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], *,
              constants: Mapping[str, torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Run `graph` on `inputs` (numpy arrays, by name or in graph-input order) in
    torch; returns its outputs. `constants` replaces constants by name, typically
    weights as leaf tensors with `requires_grad=True`; each must have the
    constant's shape. Every other constant is read from its data."""
    overrides = dict(constants or {})
    unknown = sorted(set(overrides) - {c.name for c in graph.constants})
    if unknown:
        raise InterpretError(f"graph {graph.name} has no constant %{unknown[0]}")
    env: dict[str, torch.Tensor] = {name: to_torch(array) for name, array in bind_inputs(graph, inputs).items()}
    for const in graph.constants:
        if const.name in overrides:
            given = overrides[const.name]
            if tuple(given.shape) != const.type.shape:
                raise InterpretError(f"constant %{const.name}: expected shape {list(const.type.shape)}, "
                                     f"got {list(given.shape)}")
            env[const.name] = given
        elif const.data is None:
            raise InterpretError(f"graph {graph.name} is shape-only: constant %{const.name} has no data")
        else:
            env[const.name] = to_torch(const.data)
    for node in graph.nodes:
        env[node.name] = run_node(node, [env[name] for name in node.inputs])
    return [env[name] for name in graph.outputs]


def run_node(node: Node, args: Sequence[torch.Tensor]) -> torch.Tensor:
    """One node's result in its declared dtype; half-precision operands are computed
    on in f32 and rounded once, as the interpreter (and torch's CPU opmath) does."""
    args = [a.float() if a.dtype in _HALF else a for a in args]
    return _KERNELS[node.op](args, node.attrs).to(TORCH_DTYPES[node.type.dtype.name])


# --- GEMM-like ---------------------------------------------------------------
def _conv2d(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    bias = args[2] if len(args) == 3 else None
    return F.conv2d(args[0], args[1], bias, attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"])


def _attention(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    """SDPA with the interpreter's masks: a bool mask keeps where True, a float mask
    is added, and `causal` (top-left aligned) combines with either."""
    q, k, v = args[:3]
    mask = args[3] if len(args) == 4 else None
    if attrs["causal"]:
        causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        if mask is None or mask.dtype == torch.bool:
            mask = causal if mask is None else mask & causal
        else:
            mask = mask.masked_fill(~causal, -math.inf)
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attrs["scale"])


# --- normalisation -------------------------------------------------------------
def _layer_norm(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    x = args[0]
    weight, bias = (list(args[1:]) + [None, None])[:2]
    return F.layer_norm(x, x.shape[x.dim() - attrs["ndim"]:], weight, bias, attrs["eps"])


def _rms_norm(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    x = args[0]
    return F.rms_norm(x, x.shape[x.dim() - attrs["ndim"]:], args[1] if len(args) > 1 else None, attrs["eps"])


# --- elementwise and reductions ----------------------------------------------------
def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> Kernel:
    return lambda args, attrs: fn(args[0])


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Kernel:
    return lambda args, attrs: fn(args[0], args[1])


def _clamp(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    if attrs["min"] is None and attrs["max"] is None:
        return args[0]  # torch.clamp refuses two missing bounds
    return torch.clamp(args[0], attrs["min"], attrs["max"])


def _reduction(fn: Callable[..., torch.Tensor]) -> Kernel:
    return lambda args, attrs: fn(args[0], dim=tuple(attrs["axes"]), keepdim=attrs["keepdim"])


def _mean(x: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    """torch.mean of integers in f64, as numpy takes it (torch refuses integer means)."""
    return torch.mean(x if x.is_floating_point() else x.double(), dim=dim, keepdim=keepdim)


class _StraightThrough(torch.autograd.Function):
    """Fake quantisation: the value is the interpreter's own `fake_quantize` (its
    grids, fp8 and NF4 included, have no torch kernel, and rounding has no useful
    derivative anyway); the gradient passes straight through, the estimator
    quantisation-aware training uses (Bengio et al. 2013, arXiv:1308.3432)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, attrs: Mapping[str, Any]) -> torch.Tensor:
        rounded = fake_quantize(x.detach().cpu().numpy(), **attrs)
        return torch.from_numpy(rounded).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


# --- pooling -------------------------------------------------------------------------
def _max_pool2d(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    return F.max_pool2d(args[0], attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"],
                        attrs["ceil_mode"])


def _avg_pool2d(args: Sequence[torch.Tensor], attrs: Mapping[str, Any]) -> torch.Tensor:
    return F.avg_pool2d(args[0], attrs["kernel"], attrs["stride"], attrs["padding"], attrs["ceil_mode"],
                        attrs["count_include_pad"])


_KERNELS: dict[Op, Kernel] = {
    Op.LINEAR: lambda args, attrs: F.linear(args[0], args[1], args[2] if len(args) == 3 else None),
    Op.MATMUL: _binary(torch.matmul),
    Op.CONV2D: _conv2d,
    Op.ATTENTION: _attention,
    Op.EMBEDDING: lambda args, attrs: F.embedding(args[1], args[0]),
    Op.LAYER_NORM: _layer_norm,
    Op.RMS_NORM: _rms_norm,
    Op.SOFTMAX: lambda args, attrs: torch.softmax(args[0], attrs["axis"]),
    Op.LOG_SOFTMAX: lambda args, attrs: torch.log_softmax(args[0], attrs["axis"]),
    Op.ADD: _binary(torch.add),
    Op.SUB: _binary(torch.sub),
    Op.MUL: _binary(torch.mul),
    Op.DIV: _binary(torch.true_divide),
    Op.POW: _binary(torch.pow),
    Op.MAXIMUM: _binary(torch.maximum),
    Op.MINIMUM: _binary(torch.minimum),
    Op.EQ: _binary(torch.eq),
    Op.NE: _binary(torch.ne),
    Op.LT: _binary(torch.lt),
    Op.LE: _binary(torch.le),
    Op.GT: _binary(torch.gt),
    Op.GE: _binary(torch.ge),
    Op.AND: _binary(torch.logical_and),
    Op.OR: _binary(torch.logical_or),
    Op.WHERE: lambda args, attrs: torch.where(args[0].bool(), args[1], args[2]),
    Op.NEG: _unary(torch.neg),
    Op.ABS: _unary(torch.abs),
    Op.EXP: _unary(torch.exp),
    Op.LOG: _unary(torch.log),
    Op.SQRT: _unary(torch.sqrt),
    Op.RSQRT: _unary(torch.rsqrt),
    Op.RECIPROCAL: _unary(torch.reciprocal),
    Op.SIN: _unary(torch.sin),
    Op.COS: _unary(torch.cos),
    Op.TANH: _unary(torch.tanh),
    Op.ERF: _unary(torch.erf),
    Op.SIGMOID: _unary(torch.sigmoid),
    Op.RELU: _unary(torch.relu),
    Op.GELU: lambda args, attrs: F.gelu(args[0], approximate=attrs["approximate"]),
    Op.SILU: _unary(F.silu),
    Op.NOT: _unary(torch.logical_not),
    Op.CLAMP: _clamp,
    Op.CAST: lambda args, attrs: args[0],  # run_node casts to the declared dtype
    Op.FAKE_QUANT: lambda args, attrs: _StraightThrough.apply(args[0], attrs),
    Op.SUM: _reduction(torch.sum),
    Op.MEAN: _reduction(_mean),
    Op.MAX: _reduction(torch.amax),
    Op.MIN: _reduction(torch.amin),
    Op.RESHAPE: lambda args, attrs: args[0].reshape(attrs["shape"]),
    Op.PERMUTE: lambda args, attrs: args[0].permute(attrs["perm"]),
    Op.EXPAND: lambda args, attrs: args[0].expand(attrs["shape"]),
    Op.CONCAT: lambda args, attrs: torch.cat(list(args), dim=attrs["axis"]),
    Op.SLICE: lambda args, attrs: torch.ops.aten.slice(args[0], attrs["axis"], attrs["start"], attrs["end"],
                                                       attrs["step"]),
    Op.TAKE: lambda args, attrs: torch.take(args[0], args[1]),
    Op.MAX_POOL2D: _max_pool2d,
    Op.AVG_POOL2D: _avg_pool2d,
    Op.ADAPTIVE_AVG_POOL2D: lambda args, attrs: F.adaptive_avg_pool2d(args[0], attrs["output_size"]),
}
assert set(_KERNELS) == set(Op), set(Op) - set(_KERNELS)
