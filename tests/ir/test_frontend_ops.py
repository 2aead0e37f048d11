"""The torch frontend, op by op: each case is a tiny module lowered with `from_torch`,
run by the reference interpreter and compared with torch's own output (same shapes
and dtypes, relative error at most 1e-5 in fp32; see tests/ir/numerics.py).

Lowering costs about 0.2 s per module (torch's core-ATen decomposition), so a case
bundles the variants of one op (forms, axes, strides) as the outputs of one module;
a failure names the output. Each case also names the ATen ops its exported program
must contain, so a change in torch's decompositions that routes around a converter
fails loudly, and `test_every_converter_is_exercised` checks the cases reach every
converter in `ir/frontend/aten_ops.py`. Converters for ATen ops that core-ATen
decomposition never emits (`softmax.int`, `rsub.Scalar`, ...) are reached by
lowering the program torch.export gives before decomposition (the "raw" cases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from numerics import assert_matches, to_numpy
from torch import nn

import bitsmith.ir as ir
from bitsmith.ir.frontend import torch_export
from bitsmith.ir.frontend.aten_ops import CONVERTERS
from bitsmith.ir.ops import Op

aten = torch.ops.aten


class Fn(nn.Module):
    """A module whose forward is `fn`, so a case fits on a line or two."""

    def __init__(self, fn: Callable[..., object]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *inputs: torch.Tensor) -> object:
        return self.fn(*inputs)


class Each(nn.Module):
    """Applies its i-th module to its i-th input: many layers, one export."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(layer(x) for layer, x in zip(self.layers, inputs))


@dataclass(frozen=True)
class Case:
    id: str
    module: Callable[[], nn.Module]
    inputs: Callable[[], tuple[torch.Tensor, ...]]
    aten: tuple[str, ...]  # ATen ops (without the `aten.` prefix) the exported program must contain
    ops: tuple[Op, ...] | None = None  # when given: the lowered graph's ops, in order
    labels: tuple[str, ...] = ()  # names of the outputs, for failure messages
    tol: float = 1e-5  # relative error allowed; 1e-5 for fp32


def fn(f: Callable[..., object]) -> Callable[[], nn.Module]:
    return lambda: Fn(f)


def each(*layers: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    return lambda: Each(*(make() for make in layers))


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


def positive(*shape: int) -> torch.Tensor:
    return torch.rand(*shape) + 0.1


def away_from_zero(*shape: int) -> torch.Tensor:
    """Divisors: |x| >= 0.5, either sign."""
    x = torch.randn(*shape)
    return torch.where(x < 0, x - 0.5, x + 0.5)


def small_ints(*shape: int) -> torch.Tensor:
    """Float tensors of -2..2, so comparisons see equal elements too."""
    return torch.randint(-2, 3, shape).float()


def ints(*shape: int, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    return torch.randint(-3, 4, shape, dtype=dtype)


def bools(*shape: int) -> torch.Tensor:
    return torch.rand(*shape) > 0.5


def batchnorm(kind: type[nn.Module], channels: int) -> nn.Module:
    """A batch norm in eval mode with non-trivial running statistics and affine parameters."""
    bn = kind(channels)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels))
        bn.running_var.copy_(torch.rand(channels) + 0.5)
        bn.weight.copy_(torch.randn(channels))
        bn.bias.copy_(torch.randn(channels))
    return bn.eval()


def lower_and_compare(module: nn.Module, inputs: tuple[torch.Tensor, ...], labels: tuple[str, ...] = (),
                      tol: float = 1e-5) -> ir.Graph:
    """Lower `module`, interpret it on `inputs`, and check every output against torch's:
    the IR's static types, then the interpreter's arrays."""
    module = module.eval()
    graph = ir.from_torch(module, inputs)
    with torch.no_grad():
        expected = module(*inputs)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    ours = ir.interpret(graph, [to_numpy(x) for x in inputs])
    assert len(ours) == len(expected)
    for i, (got, want, value) in enumerate(zip(ours, expected, graph.output_values())):
        what = f"output {i}" + (f" ({labels[i]})" if labels else "")
        torch_type = f"{want.dtype}{list(want.shape)}"
        assert value.type.shape == tuple(want.shape), f"{what}: IR type {value.type}, torch {torch_type}"
        assert value.type.dtype == torch_export.ir_dtype(want.dtype), \
            f"{what}: IR type {value.type}, torch {torch_type}"
        assert_matches(got, want, tol, what=what)
    return graph


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> list[torch.export.ExportedProgram]:
    """The programs `from_torch` lowers, recorded as it exports them."""
    programs: list[torch.export.ExportedProgram] = []
    original = torch_export.export

    def recording(module: nn.Module, example_inputs: tuple) -> torch.export.ExportedProgram:
        programs.append(original(module, example_inputs))
        return programs[-1]

    monkeypatch.setattr(torch_export, "export", recording)
    return programs


@pytest.fixture
def raw_exported(monkeypatch: pytest.MonkeyPatch) -> list[torch.export.ExportedProgram]:
    """Like `exported`, but `from_torch` lowers torch.export's program before core-ATen
    decomposition, where ops such as `softmax.int` and `rsub.Scalar` still appear."""
    programs: list[torch.export.ExportedProgram] = []

    def raw(module: nn.Module, example_inputs: tuple) -> torch.export.ExportedProgram:
        programs.append(torch.export.export(module, tuple(example_inputs)))
        return programs[-1]

    monkeypatch.setattr(torch_export, "export", raw)
    return programs


def targets(program: torch.export.ExportedProgram) -> set[str]:
    return {str(n.target) for n in program.graph.nodes if n.op == "call_function"}


def run_case(case: Case, programs: list[torch.export.ExportedProgram]) -> ir.Graph:
    torch.manual_seed(0)
    graph = lower_and_compare(case.module(), case.inputs(), case.labels, case.tol)
    missing = {f"aten.{t}" for t in case.aten} - targets(programs[-1])
    assert not missing, f"exported program lacks {sorted(missing)}; it has {sorted(targets(programs[-1]))}"
    if case.ops is not None:
        assert tuple(n.op for n in graph.nodes) == case.ops, str(graph)
    return graph


# --- GEMM-like ------------------------------------------------------------------------
def conv(*args: object, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: nn.Conv2d(*args, **kwargs)


GEMM = [
    Case("linear-bias-no-bias-3d", each(lambda: nn.Linear(8, 4), lambda: nn.Linear(8, 4, bias=False),
                                       lambda: nn.Linear(8, 5)),
         lambda: (randn(2, 8), randn(3, 8), randn(2, 3, 8)), ("linear.default",), (Op.LINEAR,) * 3),
    Case("linear-weight-as-input", fn(lambda x, w: F.linear(x, w)), lambda: (randn(3, 8), randn(5, 8)),
         ("linear.default",), (Op.LINEAR,)),
    Case("mm", fn(lambda a, b: (a @ b, torch.mm(b.t(), a.t()))), lambda: (randn(3, 4), randn(4, 5)), ("mm.default",)),
    Case("bmm", fn(torch.bmm), lambda: (randn(2, 3, 4), randn(2, 4, 5)), ("bmm.default",), (Op.MATMUL,)),
    Case("matmul-broadcast", fn(lambda a, b, c: (a @ b, c @ b)),
         lambda: (randn(2, 1, 3, 4), randn(3, 4, 5), randn(3, 2, 4)),
         ("bmm.default",)),
    Case("matmul-3d-by-2d", fn(lambda a, b: a @ b), lambda: (randn(2, 3, 4), randn(4, 5)), ("mm.default",)),
    Case("addmm", fn(torch.addmm), lambda: (randn(5), randn(3, 4), randn(4, 5)), ("addmm.default",),
         (Op.MATMUL, Op.ADD)),
    Case("conv2d-stride-padding-dilation",
         each(conv(3, 4, 3), conv(3, 4, 3, stride=2), conv(3, 4, (3, 2), stride=(1, 2)), conv(3, 4, 3, padding=1),
              conv(3, 4, 3, padding=(2, 0)), conv(3, 4, 3, padding="same"), conv(3, 4, 3, dilation=2, padding=2),
              conv(3, 4, 1, bias=False)),
         lambda: (randn(2, 3, 6, 6), randn(1, 3, 7, 7), randn(1, 3, 6, 7), randn(1, 3, 5, 5), randn(1, 3, 5, 5),
                  randn(1, 3, 5, 5), randn(1, 3, 7, 7), randn(1, 3, 4, 4)),
         ("convolution.default",), (Op.CONV2D,) * 8),
    Case("conv2d-groups-depthwise",
         each(conv(4, 6, 3, groups=2), conv(4, 4, 3, groups=4, padding=1), conv(3, 6, 3, groups=3, bias=False)),
         lambda: (randn(2, 4, 5, 5), randn(2, 4, 5, 5), randn(1, 3, 5, 5)), ("convolution.default",), (Op.CONV2D,) * 3),
    Case("conv2d-everything-at-once",
         conv(4, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2),
         lambda: (randn(2, 4, 9, 8),), ("convolution.default",), (Op.CONV2D,)),
    Case("conv2d-weights-as-inputs", fn(lambda x, w, b: F.conv2d(x, w, b, padding=1)),
         lambda: (randn(1, 3, 5, 5), randn(2, 3, 3, 3), randn(2)), ("convolution.default",), (Op.CONV2D,)),
]


# --- attention ------------------------------------------------------------------------
def sdpa(**kwargs: object) -> Callable[..., torch.Tensor]:
    return lambda q, k, v, mask=None: F.scaled_dot_product_attention(q, k, v, mask, **kwargs)


def qkv(heads: int = 2, kv_heads: int | None = None, sq: int = 4, skv: int = 4, d: int = 8) -> tuple[torch.Tensor, ...]:
    kv_heads = kv_heads or heads
    return randn(2, heads, sq, d), randn(2, kv_heads, skv, d), randn(2, kv_heads, skv, d)


SDPA = ("scaled_dot_product_attention.default",)
ATTENTION = [
    Case("sdpa-plain-scale-3d", fn(lambda q, k, v, q3, k3, v3: (sdpa()(q, k, v), sdpa(scale=0.3)(q, k, v),
                                                                sdpa()(q3, k3, v3))),
         lambda: qkv() + (randn(3, 4, 8), randn(3, 5, 8), randn(3, 5, 6)), SDPA, (Op.ATTENTION,) * 3),
    Case("sdpa-causal", fn(lambda q, k, v, q2, k2, v2: (sdpa(is_causal=True)(q, k, v),
                                                        sdpa(is_causal=True, scale=2.0)(q, k, v),
                                                        sdpa(is_causal=True)(q2, k2, v2))),
         lambda: qkv() + qkv(sq=3, skv=5), SDPA, (Op.ATTENTION,) * 3),
    Case("sdpa-bool-mask", fn(lambda q, k, v, m, mh: (sdpa()(q, k, v, m), sdpa()(q, k, v, mh))),
         lambda: qkv() + ((torch.rand(4, 4) > 0.3) | torch.eye(4, dtype=torch.bool),
                          (torch.rand(2, 2, 4, 4) > 0.5) | torch.eye(4, dtype=torch.bool)), SDPA),
    Case("sdpa-float-mask", fn(lambda q, k, v, m: sdpa()(q, k, v, m)), lambda: qkv() + (randn(2, 1, 4, 4),), SDPA,
         (Op.ATTENTION,)),
    Case("sdpa-float-mask-with-neg-inf", fn(lambda q, k, v, m: sdpa()(q, k, v, m)),
         lambda: qkv() + (torch.zeros(4, 4).masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf")),),
         SDPA),
    Case("sdpa-gqa", fn(sdpa(enable_gqa=True)), lambda: qkv(heads=6, kv_heads=2), SDPA,
         (Op.RESHAPE, Op.EXPAND, Op.RESHAPE) * 2 + (Op.ATTENTION,)),
    Case("sdpa-gqa-causal-one-kv-head", fn(sdpa(enable_gqa=True, is_causal=True)), lambda: qkv(heads=4, kv_heads=1),
         SDPA),
]


# --- gathers and normalisation ----------------------------------------------------------
NORMS = [
    Case("embedding", each(lambda: nn.Embedding(10, 4), lambda: nn.Embedding(10, 4, padding_idx=0),
                           lambda: nn.Embedding(10, 3)),
         lambda: (torch.tensor([[0, 3, 9], [9, 1, 0]]), torch.tensor([0, 3, 0]),
                  torch.tensor([1, 2], dtype=torch.int32)),
         ("embedding.default",), (Op.EMBEDDING,) * 3),
    Case("layer-norm", each(lambda: nn.LayerNorm(8), lambda: nn.LayerNorm((3, 8)),
                            lambda: nn.LayerNorm(8, elementwise_affine=False), lambda: nn.LayerNorm(8, bias=False)),
         lambda: (randn(2, 3, 8) * 3 + 1, randn(2, 3, 8), randn(2, 8), randn(2, 8)),
         ("layer_norm.default",), (Op.LAYER_NORM,) * 4),
    Case("layer-norm-bias-only", fn(lambda x, b: F.layer_norm(x, (8,), bias=b, eps=1e-3)),
         lambda: (randn(2, 8), randn(8)), ("layer_norm.default",), (Op.LAYER_NORM,)),
    Case("rms-norm", fn(lambda x, w: (F.rms_norm(x, (8,), w, eps=1e-6), F.rms_norm(x, (8,), w),
                                      F.rms_norm(x, (3, 8), eps=1e-5), F.rms_norm(x, (8,)))),
         lambda: (randn(2, 3, 8), randn(8)), ("rms_norm.default",), (Op.RMS_NORM,) * 4),
    Case("rms-norm-module", lambda: nn.RMSNorm(8, eps=1e-6), lambda: (randn(2, 3, 8),), ("rms_norm.default",),
         (Op.RMS_NORM,)),
    Case("batch-norm-without-conv", each(lambda: batchnorm(nn.BatchNorm2d, 3), lambda: batchnorm(nn.BatchNorm1d, 3),
                                         lambda: batchnorm(nn.BatchNorm1d, 3),
                                         lambda: nn.BatchNorm2d(3, affine=False).eval()),
         lambda: (randn(2, 3, 4, 4), randn(4, 3), randn(2, 3, 5), randn(2, 3, 2, 2)),
         ("_native_batch_norm_legit_no_training.default",), (Op.MUL, Op.ADD) * 4),
    Case("group-norm", each(lambda: nn.GroupNorm(2, 4), lambda: nn.GroupNorm(3, 6, affine=False),
                            lambda: nn.GroupNorm(1, 4, eps=1e-3)),
         lambda: (randn(2, 4, 3, 3) * 2 + 1, randn(1, 6, 5), randn(2, 4, 2, 2)), ("native_group_norm.default",)),
    Case("softmax", fn(lambda x: (x.softmax(0), x.softmax(1), x.softmax(-1))), lambda: (randn(2, 3, 4) * 4,),
         ("_softmax.default",), (Op.SOFTMAX,) * 3),
    Case("log-softmax", fn(lambda x: (F.log_softmax(x, 0), F.log_softmax(x, -2), F.log_softmax(x, 2))),
         lambda: (randn(2, 3, 4) * 4,), ("_log_softmax.default",), (Op.LOG_SOFTMAX,) * 3),
]


# --- elementwise ----------------------------------------------------------------------------
def binary_forms(f: Callable[..., torch.Tensor], scalars: bool) -> Callable[[], nn.Module]:
    """Tensor-tensor with broadcasting, of floats and of ints, and when the op takes
    scalars: tensor-float, int tensor with int and with float scalars."""
    if not scalars:
        return fn(lambda a, b, i, j: (f(a, b), f(i, j)))
    return fn(lambda a, b, i, j: (f(a, b), f(i, j), f(a, 1.0), f(i, 2), f(i, -0.5)))


BINARY_LABELS = ("floats broadcast", "ints broadcast", "float tensor, float scalar", "int tensor, int scalar",
                 "int tensor, float scalar")


BINARY_FNS: dict[str, tuple[Callable[..., torch.Tensor], str, bool]] = {
    # name: (torch function, the ATen op of the tensor-tensor form, whether it takes scalars)
    "add": (torch.add, "add.Tensor", True),
    "sub": (torch.sub, "sub.Tensor", True),
    "mul": (torch.mul, "mul.Tensor", True),
    "div": (torch.div, "div.Tensor", True),
    "maximum": (torch.maximum, "maximum.default", False),
    "minimum": (torch.minimum, "minimum.default", False),
    "eq": (torch.eq, "eq.Tensor", True),
    "ne": (torch.ne, "ne.Tensor", True),
    "lt": (torch.lt, "lt.Tensor", True),
    "le": (torch.le, "le.Tensor", True),
    "gt": (torch.gt, "gt.Tensor", True),
    "ge": (torch.ge, "ge.Tensor", True),
}

BINARY = [
    Case(name, binary_forms(f, scalars),
         lambda div=name == "div": (small_ints(3, 1, 4), away_from_zero(2, 4) if div else small_ints(2, 4), ints(2, 4),
                                    torch.tensor([1, -2, 3, 4]) if div else ints(4)),
         (target,), labels=BINARY_LABELS[:5 if scalars else 2])
    for name, (f, target, scalars) in BINARY_FNS.items()
] + [
    Case("scalar-first", fn(lambda x: (1.0 + x, 1 - x, 2 * x, 1.0 < x, 0 == x, -1 >= x)), lambda: (small_ints(3, 4),),
         ("add.Tensor", "sub.Tensor", "mul.Tensor", "gt.Scalar", "eq.Scalar", "le.Scalar")),
    Case("comparisons-with-scalars", fn(lambda x, i: (x == 1.0, x != 1.0, x < 0, x <= 0, x > 0.5, x >= -1, i > -0.5,
                                                      i == 0.5, i <= 1)),
         lambda: (small_ints(3, 4), ints(3, 4)), ("eq.Scalar", "ne.Scalar", "lt.Scalar", "le.Scalar", "gt.Scalar",
                                                  "ge.Scalar")),
    Case("alpha", fn(lambda a, b: (torch.add(a, b, alpha=2), torch.sub(a, b, alpha=0.5), torch.rsub(a, b, alpha=3),
                                   torch.add(a.long(), b.long(), alpha=-3))),
         lambda: (randn(2, 3) * 3, randn(3) * 3), ("add.Tensor", "sub.Tensor")),
    Case("scalar-over-tensor", fn(lambda x: 2.0 / x), lambda: (away_from_zero(2, 3),),
         ("reciprocal.default", "mul.Tensor")),
    Case("pow", fn(lambda x, p, y: (x ** 3, p ** 0.5, torch.pow(p, y), 2.0 ** x, x ** 2)),
         lambda: (randn(2, 3), positive(2, 3), randn(3)), ("pow.Tensor_Scalar", "pow.Tensor_Tensor", "pow.Scalar"),
         (Op.POW,) * 5),
    Case("promotion", fn(lambda x, i, i32, h: (x + i, i * torch.tensor(0.5), x > i, i32 + i, i32 / i32,
                                               h * torch.tensor(0.5), h + x, (x > 0) + (i > 0), (x > 0) * 3)),
         lambda: (small_ints(2, 3) + 0.5, ints(2, 3), ints(2, 3, dtype=torch.int32).abs() + 1, randn(2, 3).half()),
         ("add.Tensor", "mul.Tensor", "gt.Tensor", "div.Tensor")),
    Case("logical", fn(lambda a, b, x, y: (torch.logical_and(a, b), torch.logical_or(a, b), torch.logical_and(x, y),
                                           torch.logical_or(x, y.long()))),
         lambda: (bools(3, 1), bools(4), small_ints(3, 4), small_ints(4)),
         ("logical_and.default", "logical_or.default")),
    Case("bool-and-or", fn(lambda a, b: (a & b, a | b)), lambda: (bools(3, 4), bools(4)),
         ("bitwise_and.Tensor", "bitwise_or.Tensor"), (Op.AND, Op.OR)),
    Case("where", fn(lambda c, x, y, i: (torch.where(c, x, y), torch.where(c, x, 0.0), torch.where(c, -1.5, y),
                                         torch.where(x > 0, 1.0, 0.0), torch.where(c, y, i))),
         lambda: (bools(3, 1), randn(3, 4), randn(4), ints(4)), ("where.self",)),
    Case("masked-fill", fn(lambda x, m, r: (x.masked_fill(m, -1e9), x.masked_fill(r, torch.tensor(7.0)),
                                            x.masked_fill(m, float("-inf")).softmax(-1))),
         lambda: (randn(3, 4), torch.tensor([False, True, False, True]), bools(3, 1)), ("where.self",)),
]

def unary_group(fns: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str, Op]],
                make: Callable[..., torch.Tensor]) -> list[Case]:
    """One case per group of unary ops that take the same inputs, each op one output."""
    calls = tuple(f for f, _, _ in fns.values())
    return [Case("-".join(fns), fn(lambda x: tuple(f(x) for f in calls)), lambda: (make(3, 5),),
                 tuple(target for _, target, _ in fns.values()), tuple(op for _, _, op in fns.values()),
                 labels=tuple(fns))]


UNARY = unary_group({
    "neg": (torch.neg, "neg.default", Op.NEG),
    "abs": (torch.abs, "abs.default", Op.ABS),
    "exp": (torch.exp, "exp.default", Op.EXP),
    "sin": (torch.sin, "sin.default", Op.SIN),
    "cos": (torch.cos, "cos.default", Op.COS),
    "tanh": (torch.tanh, "tanh.default", Op.TANH),
    "erf": (torch.erf, "erf.default", Op.ERF),
}, lambda *shape: randn(*shape) * 3) + unary_group({
    "log": (torch.log, "log.default", Op.LOG),
    "sqrt": (torch.sqrt, "sqrt.default", Op.SQRT),
    "rsqrt": (torch.rsqrt, "rsqrt.default", Op.RSQRT),
}, positive) + unary_group({
    "reciprocal": (torch.reciprocal, "reciprocal.default", Op.RECIPROCAL),
}, away_from_zero) + unary_group({
    "sigmoid": (torch.sigmoid, "sigmoid.default", Op.SIGMOID),
    "relu": (torch.relu, "relu.default", Op.RELU),
    "silu": (F.silu, "silu.default", Op.SILU),
    "gelu": (F.gelu, "gelu.default", Op.GELU),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), "gelu.default", Op.GELU),
}, lambda *shape: randn(*shape) * 3) + unary_group({
    "logical_not": (torch.logical_not, "logical_not.default", Op.NOT),
    "bitwise_not": (torch.bitwise_not, "bitwise_not.default", Op.NOT),
}, bools) + [
    Case("nn-activations", each(nn.ReLU, lambda: nn.GELU("tanh"), nn.SiLU, nn.Sigmoid, nn.Tanh),
         lambda: (randn(4) * 3,) * 5,
         ("relu.default", "gelu.default", "silu.default", "sigmoid.default", "tanh.default"),
         (Op.RELU, Op.GELU, Op.SILU, Op.SIGMOID, Op.TANH)),
    Case("unary-of-non-floats", fn(lambda i, b, x: (torch.exp(i), torch.sigmoid(b), torch.abs(i), torch.neg(i),
                                                    torch.relu(i), torch.logical_not(x), torch.sqrt(i.abs()))),
         lambda: (ints(5), bools(5), small_ints(5)), ("exp.default", "sigmoid.default", "logical_not.default")),
    Case("clamp", fn(lambda x, i: (x.clamp(-0.5, 0.7), x.clamp(min=0.2), x.clamp(max=0.2), torch.clamp_min(x, -0.1),
                                   torch.clamp_max(x, -0.1), i.clamp(-1, 2), i.clamp(min=-1.5))),
         lambda: (randn(3, 4), ints(3, 4)), ("clamp.default",)),
    Case("clamp-tensor-bounds", fn(lambda x, lo, hi: (x.clamp(lo, hi), x.clamp(min=lo), x.clamp(max=hi),
                                                      x.clamp(hi, lo))),
         lambda: (randn(3, 4), randn(4) - 1, randn(3, 1) + 1), ("clamp.Tensor",)),
    Case("leaky-relu", fn(lambda x: (F.leaky_relu(x), F.leaky_relu(x, 0.2), nn.LeakyReLU(-0.5)(x))),
         lambda: (randn(3, 4),), ("leaky_relu.default",), (Op.GT, Op.MUL, Op.WHERE) * 3),
    Case("hardtanh-relu6", fn(lambda x: (F.hardtanh(x), F.hardtanh(x, -0.3, 0.4), F.relu6(x))),
         lambda: (randn(3, 4) * 5,), ("hardtanh.default",), (Op.CLAMP,) * 3),
    Case("casts", fn(lambda x, b, i: (x.half(), x.to(torch.bfloat16), (x * 5).to(torch.int32), (x * 5).long(),
                                      (x > 0).float().bool(), b.float(), i.float(), i.to(torch.int8), b.long())),
         lambda: (randn(3, 4), bools(3, 4), ints(3, 4)), ("_to_copy.default",)),
    Case("cast-to-same-dtype-is-free", fn(lambda x: x.to(torch.float32) + 1), lambda: (randn(3),), ("add.Tensor",),
         (Op.ADD,)),
]


# --- reductions ---------------------------------------------------------------------------------
REDUCE_FORMS = tuple((dims, keepdim) for dims in (0, -1, (0, 2), (1, -1)) for keepdim in (False, True))
REDUCE_LABELS = tuple(f"dim={dims} keepdim={keepdim}" for dims, keepdim in REDUCE_FORMS)


def reduce_forms(f: Callable[..., torch.Tensor]) -> Callable[[], nn.Module]:
    """Axes 0, -1, (0, 2) and (1, -1), each with keepdim off and on."""
    return fn(lambda x: tuple(f(x, dims, keepdim=keepdim) for dims, keepdim in REDUCE_FORMS))


REDUCTIONS = [
    Case("sum", reduce_forms(torch.sum), lambda: (randn(2, 3, 4),), ("sum.dim_IntList",), (Op.SUM,) * 8,
         REDUCE_LABELS),
    Case("mean", reduce_forms(torch.mean), lambda: (randn(2, 3, 4),), ("mean.dim",), (Op.MEAN,) * 8,
         REDUCE_LABELS),
    Case("amax", reduce_forms(torch.amax), lambda: (randn(2, 3, 4),), ("amax.default",), (Op.MAX,) * 8,
         REDUCE_LABELS),
    Case("amin", reduce_forms(torch.amin), lambda: (randn(2, 3, 4),), ("amin.default",), (Op.MIN,) * 8,
         REDUCE_LABELS),
    Case("reduce-everything", fn(lambda x: (x.sum(), x.mean(), x.max(), x.min())), lambda: (randn(2, 3, 4),),
         ("sum.dim_IntList", "mean.default", "max.default", "min.default"), (Op.SUM, Op.MEAN, Op.MAX, Op.MIN)),
    Case("sum-dtypes", fn(lambda x, i: ((x > 0).sum(-1), i.sum(0), x.sum(0, dtype=torch.float64))),
         lambda: (randn(3, 5), ints(3, 5, dtype=torch.int32)), ("sum.dim_IntList",)),
    Case("max-min-dim", fn(lambda x: tuple(f(x, d, keepdim=k)[0] for f in (torch.max, torch.min) for d in (0, -1)
                                           for k in (False, True))),
         lambda: (randn(2, 3, 4),), ("max.dim", "min.dim"), (Op.MAX,) * 4 + (Op.MIN,) * 4),
    Case("vector-norm", fn(lambda x: (torch.linalg.vector_norm(x), torch.linalg.vector_norm(x, dim=-1),
                                      x.norm(dim=(0, 2), keepdim=True))),
         lambda: (randn(2, 3, 4),), ("linalg_vector_norm.default",), (Op.MUL, Op.SUM, Op.SQRT) * 3),
    Case("vector-norm-f16-beyond-sqrt-of-max", fn(lambda x: (torch.linalg.vector_norm(x, dim=-1), F.normalize(x))),
         lambda: (randn(3, 8).half() * 1000,), ("linalg_vector_norm.default",), tol=2 ** -10),
    Case("normalize", fn(lambda x, z: (F.normalize(x, dim=-1), F.normalize(z, dim=1))),
         lambda: (randn(3, 4), torch.cat([randn(1, 4, 2), torch.zeros(1, 4, 2)])), ("linalg_vector_norm.default",)),
]

# --- data movement --------------------------------------------------------------------------------
MOVEMENT = [
    Case("view-reshape-flatten", fn(lambda x: (x.view(-1, 4), x.reshape(4, 6), x.flatten(1), x.flatten())),
         lambda: (randn(2, 3, 4),), ("view.default",), (Op.RESHAPE,) * 4),
    Case("unsqueeze-squeeze", fn(lambda x, y: (x.unsqueeze(1), x.unsqueeze(-1), y.squeeze(), y.squeeze(1),
                                               y.squeeze(-1),
                                               x.squeeze(0))),
         lambda: (randn(2, 3), randn(2, 1, 3, 1)), ("unsqueeze.default", "squeeze.dims"), (Op.RESHAPE,) * 5),
    Case("permute-transpose-t", fn(lambda x, m: (x.permute(2, 0, 1), x.permute(0, -1, -2), x.transpose(-1, -2),
                                                 x.transpose(0, 1), m.t(), m.T, x.transpose(1, 1))),
         lambda: (randn(2, 3, 4), randn(3, 4)), ("permute.default",), (Op.PERMUTE,) * 6),
    Case("reshape-after-transpose", fn(lambda x: x.transpose(0, 1).reshape(3, 8)), lambda: (randn(2, 3, 4),),
         ("permute.default", "view.default"), (Op.PERMUTE, Op.RESHAPE)),
    Case("expand", fn(lambda x, y, z: (x.expand(2, 3, 4), y.expand(5, -1, 4), x.expand_as(z), x.expand(3, 1))),
         lambda: (randn(3, 1), randn(1, 3, 1), randn(3, 7)), ("expand.default",), (Op.EXPAND,) * 3),
    Case("cat", fn(lambda a, b, c, d, e: (torch.cat([a, b]), torch.cat([c, d, e], -1), torch.cat([c, e], 2),
                                          torch.stack([a, a], 1))),
         lambda: (randn(2, 3), randn(4, 3), randn(2, 3, 1), randn(2, 3, 2), randn(2, 3, 4)), ("cat.default",)),
    Case("cat-mixed-dtypes", fn(lambda a, b: torch.cat([a, b], 1)), lambda: (randn(2, 3), ints(2, 2)),
         ("cat.default",), (Op.CAST, Op.CONCAT)),
    Case("cat-skips-empty", fn(lambda a, b: torch.cat([a, b]) * 2), lambda: (randn(0, 3), randn(2, 3)),
         ("cat.default",), (Op.MUL,)),
    Case("constant-pad", fn(lambda x: (F.pad(x, (1, 2)), F.pad(x, (1, 1, 2, 0), value=-1.5), F.pad(x, (-1, 2, 0, -1)),
                                       F.pad(x, (0, 0, 0, 0, 1, 1)), F.pad(x.long(), (2, 0), value=7))),
         lambda: (randn(2, 3, 4),), ("constant_pad_nd.default",)),
    Case("slice", fn(lambda x: (x[:, 1:3], x[1:5:2, ::3], x[..., -3:], x[-4:-1:2], x[2:100], x[4:2], x[:, -100:2],
                                x.narrow(1, 1, 2))),
         lambda: (randn(6, 7),), ("slice.Tensor",)),
    Case("slice-whole-is-free", fn(lambda x: x[:, 0:] + 1), lambda: (randn(3, 2),), ("add.Tensor",), (Op.ADD,)),
    Case("select", fn(lambda x: (x[:, 1], x[-1], x[..., -2], x[1, 2])), lambda: (randn(3, 4, 2),), ("select.int",)),
    Case("split-chunk", fn(lambda x: (*x.split(2, dim=1), *x.split([1, 4], dim=-1), *x.chunk(2),
                                      x.chunk(3, -1)[1] * 2)),
         lambda: (randn(3, 5),), ("split_with_sizes.default",)),
    Case("unbind", fn(lambda x: x.unbind(1)), lambda: (randn(3, 4),), ("slice.Tensor", "squeeze.dims")),
]


# --- pooling ---------------------------------------------------------------------------------------
def pools(*calls: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], nn.Module]:
    """One module pooling its i-th input with the i-th call."""
    return fn(lambda *xs: tuple(call(x) for call, x in zip(calls, xs)))


POOLING = [
    Case("max-pool", pools(lambda x: F.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 3, 2, 1),
                           lambda x: F.max_pool2d(x, 3, 1, 1, 2), lambda x: F.max_pool2d(x, (3, 2), (1, 2), (1, 0)),
                           lambda x: F.max_pool2d(x, 3, 2, 1)),
         lambda: (randn(2, 3, 6, 6), randn(1, 2, 7, 7), randn(1, 2, 8, 8), randn(1, 2, 5, 6), -positive(1, 1, 5, 5)),
         ("max_pool2d_with_indices.default",), (Op.MAX_POOL2D,) * 5),
    Case("max-pool-ceil-mode", pools(lambda x: F.max_pool2d(x, 2, ceil_mode=True),
                                     lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                                     lambda x: F.max_pool2d(x, 3, 2, 1, 2, ceil_mode=True)),
         lambda: (randn(1, 2, 5, 7), randn(1, 2, 6, 8), randn(1, 2, 10, 9)), ("max_pool2d_with_indices.default",)),
    Case("avg-pool", pools(lambda x: F.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 3, 2, 1),
                           lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                           lambda x: F.avg_pool2d(x, (2, 3), (2, 1), (1, 1))),
         lambda: (randn(2, 3, 6, 6), randn(1, 2, 7, 7), randn(1, 2, 7, 7), randn(1, 2, 5, 6)),
         ("avg_pool2d.default",), (Op.AVG_POOL2D,) * 4),
    Case("avg-pool-ceil-mode", pools(lambda x: F.avg_pool2d(x, 2, ceil_mode=True),
                                     lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
                                     lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                                     lambda x: F.avg_pool2d(x, 2, 3, 1, ceil_mode=True, count_include_pad=False)),
         lambda: (randn(1, 2, 5, 7), randn(1, 2, 6, 8), randn(1, 2, 6, 8), randn(1, 2, 6, 7)),
         ("avg_pool2d.default",), (Op.AVG_POOL2D,) * 4),
    Case("adaptive-avg-pool-to-1x1", lambda: nn.AdaptiveAvgPool2d(1), lambda: (randn(2, 3, 7, 7),), ("mean.dim",),
         (Op.MEAN,)),
    Case("adaptive-avg-pool", pools(lambda x: F.adaptive_avg_pool2d(x, 3), lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
                                    lambda x: F.adaptive_avg_pool2d(x, (4, 5))),
         lambda: (randn(2, 3, 7, 7), randn(1, 2, 5, 7), randn(1, 2, 3, 2)),
         ("_adaptive_avg_pool2d.default",), (Op.ADAPTIVE_AVG_POOL2D,) * 3),
]


# --- gathers with constant indices ------------------------------------------------------------------
class Gather(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("order", torch.tensor([4, 0, 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.order]


INDEXING = [
    Case("index", fn(lambda x, y: (x[torch.tensor([2, 0, 2])], x[torch.tensor([0, 2]), torch.tensor([[1], [3]])],
                                   x[torch.tensor([-1, 0])], y[:, torch.tensor([[0, 2], [1, 1]])],
                                   y[torch.tensor([0, 1]), :, torch.tensor([3, 2])], y[..., torch.tensor([1, -1])])),
         lambda: (randn(3, 4), randn(2, 3, 4)), ("index.Tensor",), (Op.TAKE,) * 6),
    Case("index-with-buffer", Gather, lambda: (randn(5, 2),), ("index.Tensor",), (Op.TAKE,)),
    Case("index-identity-is-reshape", fn(lambda x: x[torch.arange(3)]), lambda: (randn(3, 4),), ("index.Tensor",),
         (Op.RESHAPE,)),
]

# --- half precision: the interpreter computes in f32 and rounds once per op, as torch
# does on CPU, so results agree to within one unit in the last place (2^-10 relative
# for f16, 2^-7 for bf16; most agree exactly).
class HalfModel(nn.Module):
    """Layers and functional ops on half-precision inputs, one output each."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.layers = Each(nn.Linear(64, 8), nn.LayerNorm(64), nn.RMSNorm(64), nn.Conv2d(3, 4, 3)).to(dtype)

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (*self.layers(x, x, x, w), x.softmax(-1), F.gelu(x), x.mean(-1), x.sum(-1), y * 0.1 + 1e-3,
                F.avg_pool2d(w, 2), F.scaled_dot_product_attention(z, z, z, is_causal=True))


def half_precision(dtype: torch.dtype, tol: float) -> Case:
    return Case(f"half-precision-{str(dtype).removeprefix('torch.')}", lambda: HalfModel(dtype),
                lambda: (randn(4, 64).to(dtype), randn(4, 16).to(dtype), randn(1, 2, 8, 16).to(dtype),
                         randn(1, 3, 6, 6).to(dtype)),
                ("linear.default", "layer_norm.default", "rms_norm.default"),
                labels=("linear", "layer_norm", "rms_norm", "conv2d", "softmax", "gelu", "mean", "sum", "scalar ops",
                        "avg_pool2d", "sdpa"), tol=tol)


HALF = [half_precision(torch.float16, 2 ** -10), half_precision(torch.bfloat16, 2 ** -7)]

CORE_CASES = GEMM + ATTENTION + NORMS + BINARY + UNARY + REDUCTIONS + MOVEMENT + POOLING + INDEXING + HALF


@pytest.mark.parametrize("case", CORE_CASES, ids=[c.id for c in CORE_CASES])
def test_lowered_op_matches_torch(case: Case, exported: list) -> None:
    run_case(case, exported)


# --- the pre-decomposition dialect, and ATen overloads called by name ---------------------------------
RAW_CASES = [
    Case("raw-softmax-log-softmax", fn(lambda x: (x.softmax(-1), x.log_softmax(0))), lambda: (randn(2, 3),),
         ("softmax.int", "log_softmax.int"), (Op.SOFTMAX, Op.LOG_SOFTMAX)),
    Case("raw-matmul", fn(lambda a, b: a @ b), lambda: (randn(2, 3, 4), randn(2, 4, 5)), ("matmul.default",),
         (Op.MATMUL,)),
    Case("raw-views", fn(lambda x, y: (x.reshape(-1, 2), y.squeeze(), y.squeeze(1), x.flatten(), x.t(), x.T,
                                       aten._unsafe_view.default(x, [3, 2]))),
         lambda: (randn(2, 3), randn(2, 1)), ("reshape.default", "squeeze.default", "squeeze.dim", "flatten.using_ints",
                                              "t.default", "numpy_T.default", "_unsafe_view.default")),
    Case("raw-transpose", fn(lambda x: x.transpose(0, -1)), lambda: (randn(2, 3, 4),), ("transpose.int",),
         (Op.PERMUTE,)),
    Case("raw-to-dtype", fn(lambda x: x.to(torch.float16)), lambda: (randn(2, 3),), ("to.dtype",), (Op.CAST,)),
    Case("raw-concat", fn(lambda a: torch.concat([a, a], 1)), lambda: (randn(2, 3),), ("concat.default",)),
    Case("raw-pools", fn(lambda x: (F.max_pool2d(x, 2), F.adaptive_avg_pool2d(x, 3))), lambda: (randn(1, 1, 5, 5),),
         ("max_pool2d.default", "adaptive_avg_pool2d.default")),
    Case("raw-masked-fill-where", fn(lambda x, m: (x.masked_fill(x > 0, 2.0), x.masked_fill(m, torch.tensor(-3.0)),
                                                   torch.where(x > 0, 1.0, x), torch.where(x > 0, x, 1.0),
                                                   torch.where(x > 0, 2.0, -1.0))),
         lambda: (randn(2, 3), bools(3)), ("masked_fill.Scalar", "masked_fill.Tensor", "where.ScalarSelf",
                                           "where.ScalarOther", "where.Scalar")),
    Case("raw-rsub", fn(lambda a, b: (1 - a, torch.rsub(a, b, alpha=2))), lambda: (randn(2, 3), randn(3)),
         ("rsub.Scalar", "rsub.Tensor")),
    Case("raw-clamp-min-max", fn(lambda x: (x.clamp_min(0.1), x.clamp_max(0.1))), lambda: (randn(2, 3),),
         ("clamp_min.default", "clamp_max.default"), (Op.CLAMP,) * 2),
    Case("raw-unbind-split", fn(lambda x: (*x.unbind(-1), *x.split(2))), lambda: (randn(5, 3),),
         ("unbind.int", "split.Tensor")),
    Case("raw-scalar-overloads", fn(lambda x: (aten.add.Scalar(x, 2.0), aten.sub.Scalar(x, 2.0), aten.mul.Scalar(x, 3),
                                               aten.div.Scalar(x, 4.0), aten.add.Scalar(x, 2.0, alpha=3))),
         lambda: (randn(2, 3),), ("add.Scalar", "sub.Scalar", "mul.Scalar", "div.Scalar")),
    Case("raw-div-rounding-none-and-sum", fn(lambda x: (torch.div(x, 2.0, rounding_mode=None), x.sum())),
         lambda: (randn(2, 3),), ("div.Tensor_mode", "sum.default")),
    Case("raw-native-layer-norm", fn(lambda x, w, b: aten.native_layer_norm.default(x, [3], w, b, 1e-5)[0]),
         lambda: (randn(2, 3), randn(3), randn(3)), ("native_layer_norm.default",), (Op.LAYER_NORM,)),
]


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.id for c in RAW_CASES])
def test_lowered_raw_op_matches_torch(case: Case, raw_exported: list) -> None:
    run_case(case, raw_exported)


def test_every_converter_is_exercised() -> None:
    declared = {f"aten.{t}" for case in CORE_CASES + RAW_CASES for t in case.aten}
    missing = set(CONVERTERS) - declared
    assert not missing, f"converters without a test case: {sorted(missing)}"
