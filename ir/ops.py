"""The IR's op vocabulary: one `Op` enum, with the named groups passes test against.

Every op has a fixed arity and a fixed set of attributes (`OP_SIGNATURES`); the
validator rejects anything else, so a misspelt attribute is caught where it is made,
not three passes later. Semantics (the exact maths) are those of the reference
interpreter, `ir/interpret.py`; shape rules live in `ir/shapes.py`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Op(enum.Enum):
    # --- GEMM-like: what an accelerator's PE array runs -----------------------
    LINEAR = "linear"  # (x[..., K], w[N, K], bias[N]?) -> [..., N]
    MATMUL = "matmul"  # (a[..., M, K], b[..., K, N]) -> [..., M, N], batch dims broadcast
    CONV2D = "conv2d"  # (x[N,C,H,W], w[O,C/groups,kh,kw], bias[O]?) -> [N,O,H',W']
    ATTENTION = "attention"  # (q[...,Sq,D], k[...,Skv,D], v[...,Skv,Dv], mask?) -> [...,Sq,Dv]
    # --- gathers -------------------------------------------------------------
    EMBEDDING = "embedding"  # (table[V, D], ids[...]) -> [..., D]
    # --- normalisation -------------------------------------------------------
    LAYER_NORM = "layer_norm"  # (x, weight?, bias?) over the last `ndim` axes
    RMS_NORM = "rms_norm"  # (x, weight?) over the last `ndim` axes
    SOFTMAX = "softmax"
    LOG_SOFTMAX = "log_softmax"
    # --- elementwise, binary (numpy broadcasting) -----------------------------
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    AND = "and"
    OR = "or"
    WHERE = "where"  # (cond, a, b)
    # --- elementwise, unary ----------------------------------------------------
    NEG = "neg"
    ABS = "abs"
    EXP = "exp"
    LOG = "log"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    RECIPROCAL = "reciprocal"
    SIN = "sin"
    COS = "cos"
    TANH = "tanh"
    ERF = "erf"
    SIGMOID = "sigmoid"
    RELU = "relu"
    GELU = "gelu"  # approximate: "none" (erf) | "tanh"
    SILU = "silu"
    NOT = "not"
    CLAMP = "clamp"  # min?, max?
    CAST = "cast"  # to: dtype name
    # --- quantisation --------------------------------------------------------------
    FAKE_QUANT = "fake_quant"  # x rounded to `format`'s grid and scaled back (ir/formats/fake_quant.py)
    # --- reductions -----------------------------------------------------------
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"
    # --- data movement ---------------------------------------------------------
    RESHAPE = "reshape"
    PERMUTE = "permute"  # transposes are permutes
    EXPAND = "expand"  # broadcast to `shape`
    CONCAT = "concat"
    SLICE = "slice"  # one axis: start:end:step
    TAKE = "take"  # (x, indices) -> x.flatten()[indices]: a gather with constant or computed indices
    # --- pooling ---------------------------------------------------------------
    MAX_POOL2D = "max_pool2d"
    AVG_POOL2D = "avg_pool2d"
    ADAPTIVE_AVG_POOL2D = "adaptive_avg_pool2d"

    def __str__(self) -> str:
        return self.value


GEMM_LIKE = frozenset({Op.LINEAR, Op.MATMUL, Op.CONV2D, Op.ATTENTION})
NORMALISATION = frozenset({Op.LAYER_NORM, Op.RMS_NORM, Op.SOFTMAX, Op.LOG_SOFTMAX})
BINARY = frozenset(
    {Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAXIMUM, Op.MINIMUM}
)
COMPARISON = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
LOGICAL = frozenset({Op.AND, Op.OR, Op.NOT})
UNARY = frozenset(
    {
        Op.NEG, Op.ABS, Op.EXP, Op.LOG, Op.SQRT, Op.RSQRT, Op.RECIPROCAL, Op.SIN,
        Op.COS, Op.TANH, Op.ERF, Op.SIGMOID, Op.RELU, Op.GELU, Op.SILU, Op.CLAMP,
        Op.CAST,
    }
)
ELEMENTWISE = BINARY | COMPARISON | LOGICAL | UNARY | {Op.WHERE}
# Not elementwise: per-token scaling reduces along the last axis, and a fusion pass
# must not fold it into the producer's epilogue; it belongs to the consumer GEMM's
# operand load, where an accelerator quantises activations.
QUANTIZATION = frozenset({Op.FAKE_QUANT})
REDUCTION = frozenset({Op.SUM, Op.MEAN, Op.MAX, Op.MIN})
DATA_MOVEMENT = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.CONCAT, Op.SLICE, Op.TAKE})
POOLING = frozenset({Op.MAX_POOL2D, Op.AVG_POOL2D, Op.ADAPTIVE_AVG_POOL2D})
# Everything that is not GEMM-like runs on an accelerator's vector unit.
VECTOR = frozenset(Op) - GEMM_LIKE


REQUIRED = object()  # marks an attribute without a default


@dataclass(frozen=True)
class OpSignature:
    """How many inputs an op takes and which attributes it has (with defaults)."""

    min_inputs: int
    max_inputs: int
    attrs: dict[str, object] = field(default_factory=dict)


def _sig(n_min: int, n_max: int | None = None, **attrs: object) -> OpSignature:
    return OpSignature(n_min, n_min if n_max is None else n_max, attrs)


_REDUCE = dict(axes=REQUIRED, keepdim=False)
_POOL = dict(kernel=REQUIRED, stride=REQUIRED, padding=(0, 0), ceil_mode=False)

# Where a GEMM runs on an accelerator is decided by the tiling pass and kept on the
# node (DESIGN §3): `tile` = (M, N, K) block in elements, `loop_order` its loops
# outer to inner ("nmk"); None until the pass has run. `epilogue` names, in order,
# the elementwise nodes the fuse_epilogue pass chose to run on the GEMM's output as
# it drains from the array: a scheduling annotation like `tile`, so the graph's
# meaning does not change (the rules a chain keeps: ir/verify.py).
_TILING = dict(tile=None, loop_order=None, epilogue=())

OP_SIGNATURES: dict[Op, OpSignature] = {
    Op.LINEAR: _sig(2, 3, **_TILING),
    Op.MATMUL: _sig(2, **_TILING),
    Op.CONV2D: _sig(2, 3, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, **_TILING),
    Op.ATTENTION: _sig(3, 4, scale=REQUIRED, causal=False),
    Op.EMBEDDING: _sig(2),
    Op.LAYER_NORM: _sig(1, 3, eps=REQUIRED, ndim=1),
    Op.RMS_NORM: _sig(1, 2, eps=REQUIRED, ndim=1),
    Op.SOFTMAX: _sig(1, axis=REQUIRED),
    Op.LOG_SOFTMAX: _sig(1, axis=REQUIRED),
    **{op: _sig(2) for op in BINARY | COMPARISON | {Op.AND, Op.OR}},
    Op.WHERE: _sig(3),
    **{op: _sig(1) for op in UNARY - {Op.GELU, Op.CLAMP, Op.CAST} | {Op.NOT}},
    Op.GELU: _sig(1, approximate="none"),
    Op.CLAMP: _sig(1, min=None, max=None),
    Op.CAST: _sig(1, to=REQUIRED),
    Op.FAKE_QUANT: _sig(1, format=REQUIRED, scale=None, granularity="token", zero_point=None),
    **{op: _sig(1, **_REDUCE) for op in REDUCTION},
    Op.RESHAPE: _sig(1, shape=REQUIRED),
    Op.PERMUTE: _sig(1, perm=REQUIRED),
    Op.EXPAND: _sig(1, shape=REQUIRED),
    Op.CONCAT: _sig(1, 64, axis=REQUIRED),
    Op.SLICE: _sig(1, axis=REQUIRED, start=REQUIRED, end=REQUIRED, step=1),
    Op.TAKE: _sig(2),
    Op.MAX_POOL2D: _sig(1, **_POOL, dilation=(1, 1)),
    Op.AVG_POOL2D: _sig(1, **_POOL, count_include_pad=True),
    Op.ADAPTIVE_AVG_POOL2D: _sig(1, output_size=REQUIRED),
}
assert set(OP_SIGNATURES) == set(Op), set(Op) - set(OP_SIGNATURES)


def op_by_name(name: str) -> Op:
    """The op printed as `name`; raises KeyError naming the valid ones."""
    try:
        return Op(name)
    except ValueError:
        raise KeyError(f"unknown op {name!r}") from None
