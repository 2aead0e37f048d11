"""Hypothesis strategies for small random graphs.

Graphs are built through `GraphBuilder`, so every graph drawn is one the IR accepts;
what varies is everything a serialiser could get wrong: dtypes (bf16 included),
0-d and empty shapes, layouts, special floats in constant data, shape-only
constants, and attributes of every kind (tuples, floats, None, -0.0, infinities).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bitsmith.ir import dtypes
from bitsmith.ir.dtypes import DType
from bitsmith.ir.graph import CONSTANT_ORIGINS, Graph, GraphBuilder
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType

FLOAT_DTYPES = (dtypes.F32, dtypes.F16, dtypes.BF16, dtypes.F64)
DATA_DTYPES = (dtypes.F32, dtypes.F16, dtypes.BF16, dtypes.I64, dtypes.I8, dtypes.BOOL)
SPECIAL_FLOATS = (0.0, -0.0, math.inf, -math.inf, math.nan)

# Names the builder keeps as they are (it only uniquifies them).
names = st.text(alphabet="abxyz_.0", min_size=1, max_size=5)
# Attribute floats: no NaN, since NaN != NaN would make equal graphs compare unequal.
attr_floats = st.one_of(st.floats(allow_nan=False), st.sampled_from((-0.0, math.inf, -math.inf)))


def shapes(min_rank: int = 0, max_rank: int = 3, min_side: int = 1) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(min_side, 3), min_size=min_rank, max_size=max_rank).map(tuple)


def layouts(rank: int) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), st.text(alphabet="NCHWK", min_size=rank, max_size=rank))


@st.composite
def array_data(draw: st.DrawFn, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """An array of `dtype`; float arrays mix ordinary values with -0.0, infinities and NaN."""
    if dtype.is_float:
        # bf16 is drawn as f32 and rounded: hypothesis cannot draw ml_dtypes directly.
        source = np.dtype(np.float32) if dtype is dtypes.BF16 else dtype.to_numpy()
        width = 8 * source.itemsize
        elements = st.one_of(st.floats(width=width), st.sampled_from(SPECIAL_FLOATS))
        return draw(arrays(source, shape, elements=elements)).astype(dtype.to_numpy())
    return draw(arrays(dtype.to_numpy(), shape))


@st.composite
def loose_constant(draw: st.DrawFn, builder: GraphBuilder) -> str:
    """A constant no node reads: any dtype, 0-d included, with data or shape-only."""
    dtype = draw(st.sampled_from(DATA_DTYPES))
    shape = draw(shapes(min_side=0))
    origin = draw(st.sampled_from(CONSTANT_ORIGINS))
    if draw(st.booleans()):
        return builder.constant(draw(names), draw(array_data(dtype, shape)), origin=origin)
    return builder.constant(draw(names), type=TensorType(shape, dtype, draw(layouts(len(shape)))), origin=origin)


def weight(draw: st.DrawFn, builder: GraphBuilder, shape: tuple[int, ...], dtype: DType, layout: str = "") -> str:
    """A constant a node reads, with data or (as for big models) shape-only."""
    if draw(st.booleans()):
        return builder.constant(draw(names), draw(array_data(dtype, shape)), TensorType(shape, dtype, layout))
    return builder.constant(draw(names), type=TensorType(shape, dtype, layout))


def partner_dtypes(dtype: DType) -> st.SearchStrategy[DType]:
    """Dtypes that promote with `dtype` (numpy cannot promote f16 with bf16)."""
    return st.sampled_from((dtype, dtypes.F32, dtypes.F64))


# --- one maker per family of ops: (draw, builder, x) -> the new node's name ----------
Maker = Callable[[st.DrawFn, GraphBuilder, str], str]


def _node(draw: st.DrawFn, b: GraphBuilder, op: Op, inputs: list[str], attrs: dict) -> str:
    """Add the node under a drawn name (or the op's), sometimes followed by a relu with
    an output layout: the layout needs the output's rank, known once the node is built."""
    name = draw(st.one_of(st.none(), names))
    node = b.op(op, inputs, attrs, name=name)
    layout = draw(layouts(b.type_of(node).rank)) if draw(st.integers(0, 3)) == 0 else ""
    if not layout:
        return node
    return b.op(Op.RELU, [node], layout=layout)


def _unary(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    op = draw(st.sampled_from((Op.EXP, Op.TANH, Op.SILU, Op.NEG, Op.SIGMOID, Op.GELU)))
    attrs = {"approximate": draw(st.sampled_from(("none", "tanh")))} if op is Op.GELU else {}
    return _node(draw, b, op, [x], attrs)


def _clamp(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    """Its bounds are where None, ints, -0.0 and infinities meet in one attribute."""
    bound = st.one_of(st.none(), attr_floats, st.integers(-3, 3))
    return _node(draw, b, Op.CLAMP, [x], {"min": draw(bound), "max": draw(bound)})


def _binary(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    t = b.type_of(x)
    other_shape = draw(st.sampled_from(((), t.shape[-1:], t.shape)))
    if other_shape == t.shape and draw(st.booleans()):
        other = x
    else:
        other = weight(draw, b, other_shape, draw(partner_dtypes(t.dtype)))
    op = draw(st.sampled_from((Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM)))
    return _node(draw, b, op, [x, other], {})


def _linear(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    t = b.type_of(x)
    n = draw(st.integers(1, 4))
    inputs = [x, weight(draw, b, (n, t.shape[-1]), t.dtype, draw(st.sampled_from(("", "NK"))))]
    if draw(st.booleans()):
        inputs.append(weight(draw, b, (n,), t.dtype))
    return _node(draw, b, Op.LINEAR, inputs, {})


def _matmul(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    t = b.type_of(x)
    other = weight(draw, b, (t.shape[-1], draw(st.integers(1, 4))), draw(partner_dtypes(t.dtype)))
    return _node(draw, b, Op.MATMUL, [x, other], {})


def _reshape(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    t = b.type_of(x)
    shape = draw(st.sampled_from(((t.numel,), (1,) + t.shape, t.shape + (1,))))
    return _node(draw, b, Op.RESHAPE, [x], {"shape": shape})


def _permute(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    perm = tuple(draw(st.permutations(range(b.type_of(x).rank))))
    return _node(draw, b, Op.PERMUTE, [x], {"perm": perm})


def _axis(draw: st.DrawFn, rank: int) -> int:
    return draw(st.integers(-rank, rank - 1))


def _slice(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    attrs = {"axis": _axis(draw, b.type_of(x).rank), "start": draw(st.integers(-4, 4)),
             "end": draw(st.integers(-4, 4)), "step": draw(st.integers(1, 3))}
    return _node(draw, b, Op.SLICE, [x], attrs)


def _concat(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    copies = draw(st.integers(1, 3))
    return _node(draw, b, Op.CONCAT, [x] * copies, {"axis": _axis(draw, b.type_of(x).rank)})


def _softmax(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    op = draw(st.sampled_from((Op.SOFTMAX, Op.LOG_SOFTMAX)))
    return _node(draw, b, op, [x], {"axis": _axis(draw, b.type_of(x).rank)})


def _reduce(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    rank = b.type_of(x).rank
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = tuple(a - rank if draw(st.booleans()) else a for a in axes)  # negative axes too
    op = draw(st.sampled_from((Op.SUM, Op.MEAN, Op.MAX, Op.MIN)))
    return _node(draw, b, op, [x], {"axes": axes, "keepdim": draw(st.booleans())})


def _cast(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    return _node(draw, b, Op.CAST, [x], {"to": draw(st.sampled_from(FLOAT_DTYPES)).name})


def _layer_norm(draw: st.DrawFn, b: GraphBuilder, x: str) -> str:
    t = b.type_of(x)
    ndim = draw(st.integers(1, t.rank))
    inputs = [x] + [weight(draw, b, t.shape[-ndim:], t.dtype) for _ in range(draw(st.integers(0, 2)))]
    eps = draw(st.floats(min_value=1e-12, max_value=1e-1))
    return _node(draw, b, Op.LAYER_NORM, inputs, {"eps": eps, "ndim": ndim})


# (minimum input rank, maker): every value in the pool is a float tensor.
MAKERS: tuple[tuple[int, Maker], ...] = (
    (0, _unary), (0, _clamp), (0, _binary), (0, _reshape), (0, _permute), (0, _cast),
    (1, _linear), (1, _slice), (1, _concat), (1, _softmax), (1, _reduce), (1, _layer_norm),
    (2, _matmul),
)


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 6) -> Graph:
    """A valid graph: float inputs, loose constants, then a few nodes reading earlier values."""
    b = GraphBuilder(draw(names))
    pool = []
    for _ in range(draw(st.integers(1, 2))):
        shape = draw(shapes(min_rank=1))
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
        pool.append(b.input(draw(names), TensorType(shape, dtype, draw(layouts(len(shape))))))
    for _ in range(draw(st.integers(0, 3))):
        draw(loose_constant(b))
    for _ in range(draw(st.integers(1, max_nodes))):
        x = draw(st.sampled_from(pool))
        rank = b.type_of(x).rank
        maker = draw(st.sampled_from([m for min_rank, m in MAKERS if rank >= min_rank]))
        pool.append(maker(draw, b, x))
    extra = draw(st.lists(st.sampled_from(pool[:-1]), max_size=2, unique=True)) if len(pool) > 1 else []
    return b.build([pool[-1], *extra])

