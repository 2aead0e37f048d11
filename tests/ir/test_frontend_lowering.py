"""Whole-graph behaviour of the torch frontend: the clean-ups (batch-norm folding,
RMS-norm recognition), constant folding of buffer- and literal-only computations,
and the errors for what the IR cannot express. Numerics are checked against torch
as in test_frontend_ops.py.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numerics import assert_matches, to_numpy
from torch import nn

import bitsmith.ir as ir
from bitsmith.ir.ops import Op

HERE = Path(__file__).name


def lower_and_compare(module: nn.Module, *inputs: torch.Tensor) -> ir.Graph:
    module = module.eval()
    graph = ir.from_torch(module, inputs)
    with torch.no_grad():
        expected = module(*inputs)
    (ours,) = ir.interpret(graph, [to_numpy(x) for x in inputs])
    assert_matches(ours, expected)
    return graph


def ops(graph: ir.Graph) -> list[Op]:
    return [n.op for n in graph.nodes]


@pytest.fixture(autouse=True)
def seed() -> None:
    torch.manual_seed(0)


# --- batch-norm folding -----------------------------------------------------------------
def batchnorm(channels: int) -> nn.BatchNorm2d:
    """Eval-mode batch norm with statistics far from the identity, so a wrong fold shows."""
    bn = nn.BatchNorm2d(channels, eps=1e-3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels) * 2)
        bn.running_var.copy_(torch.rand(channels) * 3 + 0.2)
        bn.weight.copy_(torch.randn(channels))
        bn.bias.copy_(torch.randn(channels))
    return bn.eval()


@pytest.mark.parametrize("bias", [True, False], ids=["conv-bias", "conv-no-bias"])
def test_batch_norm_after_conv_folds_into_it(bias: bool) -> None:
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=bias)
    graph = lower_and_compare(nn.Sequential(conv, batchnorm(4)), torch.randn(2, 3, 5, 5))
    assert ops(graph) == [Op.CONV2D], str(graph)
    (node,) = graph.nodes
    weight, bias_const = graph.constant(node.inputs[1]), graph.constant(node.inputs[2])
    assert weight.type.shape == (4, 3, 3, 3) and weight.type.layout == "OIHW"
    assert not np.allclose(weight.data, to_numpy(conv.weight))  # the scale went into the weights
    assert bias_const.type.shape == (4,)
    assert {c.name for c in graph.constants} == set(node.inputs[1:])  # the statistics are gone


def test_conv_bn_relu_chain_keeps_only_convs_and_relus() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), batchnorm(4), nn.ReLU(), nn.Conv2d(4, 2, 1, groups=2), batchnorm(2),
                          nn.ReLU())
    graph = lower_and_compare(model, torch.randn(1, 3, 6, 6))
    assert ops(graph) == [Op.CONV2D, Op.RELU, Op.CONV2D, Op.RELU], str(graph)


def test_batch_norm_after_a_shared_conv_is_not_folded() -> None:
    """Folding would change the conv's other user, so the scale and shift stay."""
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), batchnorm(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn(y) + y

    graph = lower_and_compare(Branches(), torch.randn(1, 3, 5, 5))
    assert ops(graph) == [Op.CONV2D, Op.MUL, Op.ADD, Op.ADD], str(graph)


def test_batch_norm_after_a_non_conv_stays_a_scale_and_shift() -> None:
    graph = lower_and_compare(nn.Sequential(nn.ReLU(), batchnorm(3)), torch.randn(2, 3, 4, 4))
    assert ops(graph) == [Op.RELU, Op.MUL, Op.ADD], str(graph)


# --- RMS-norm recognition ------------------------------------------------------------------
class SpelledOutRMSNorm(nn.Module):
    """The RMSNorm of Hugging Face's Llama, casts included."""

    def __init__(self, dim: int, eps: float = 1e-6, weight_first: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim))
        self.eps, self.weight_first = eps, weight_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.to(torch.float32)
        variance = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        return self.weight * x.to(dtype) if self.weight_first else x.to(dtype) * self.weight


class OneLineRMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.randn(dim)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


@pytest.mark.parametrize("module", [SpelledOutRMSNorm(8), SpelledOutRMSNorm(8, 1e-5, weight_first=False),
                                    OneLineRMSNorm(8, 1e-6)], ids=["hf-llama", "hf-weight-last", "one-line"])
def test_spelled_out_rms_norm_becomes_one_node(module: nn.Module) -> None:
    graph = lower_and_compare(module, torch.randn(2, 3, 8) * 4)
    assert ops(graph) == [Op.RMS_NORM], str(graph)
    (node,) = graph.nodes
    assert node.attrs["eps"] == pytest.approx(module.eps, rel=1e-6) and node.attrs["ndim"] == 1
    assert graph.constant(node.inputs[1]).type.shape == (8,)


class NotQuiteRMSNorm(nn.Module):
    """Mean over the wrong axis: not an RMS norm, so it must not be fused."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * (x * torch.rsqrt(x.pow(2).mean(0, keepdim=True) + 1e-6))


def test_rms_norm_lookalike_is_left_alone() -> None:
    graph = lower_and_compare(NotQuiteRMSNorm(), torch.randn(2, 3, 8))
    assert Op.RMS_NORM not in ops(graph)


# --- constant folding -------------------------------------------------------------------------
class CausalScores(nn.Module):
    """Masks attention scores with a causal mask built from torch.arange in forward."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        n = scores.shape[-1]
        position = torch.arange(n)
        future = position[None, :] > position[:, None]
        return scores.masked_fill(future, float("-inf")).softmax(-1)


class Rotary(nn.Module):
    """A rotary-embedding table computed from a buffer and arange: all foldable."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = torch.outer(torch.arange(x.shape[-2]).float(), self.inv_freq)
        table = torch.cat([angles, angles], -1)
        return x * table.cos() + x * table.sin()


def folded_only(graph: ir.Graph) -> list[str]:
    """Nodes that read nothing but buffers, literals and folded constants: work that
    folding should have done at lowering time."""
    return [n.name for n in graph.nodes
            if all(graph.constant(i) is not None and graph.constant(i).origin != "parameter" for i in n.inputs)]


def test_causal_mask_from_arange_becomes_a_constant() -> None:
    graph = lower_and_compare(CausalScores(), torch.randn(2, 5, 5))
    assert ops(graph) == [Op.WHERE, Op.SOFTMAX], str(graph)
    where = graph.nodes[0]
    mask = graph.constant(where.inputs[0])
    assert mask is not None and mask.origin == "folded"
    np.testing.assert_array_equal(mask.data, np.triu(np.ones((5, 5), bool), 1))
    assert not any("arange" in v for v in [c.name for c in graph.constants] + [n.name for n in graph.nodes])
    assert folded_only(graph) == []


def test_rotary_table_from_buffer_becomes_constants() -> None:
    graph = lower_and_compare(Rotary(8), torch.randn(2, 6, 8))
    assert ops(graph) == [Op.MUL, Op.MUL, Op.ADD], str(graph)
    assert folded_only(graph) == []
    assert all(c.origin in ("folded", "literal") for c in graph.constants)


def test_shape_only_computation_folds() -> None:
    """ones_like(x) depends only on x's shape: a constant, not a node."""
    class PlusOnes(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.ones_like(x) + torch.zeros(3)

    graph = lower_and_compare(PlusOnes(), torch.randn(2, 3))
    assert len(graph.nodes) == 2 and folded_only(graph) == []


def test_parameter_arithmetic_is_not_folded() -> None:
    """Weights stay weights: a computation on a parameter is per-inference work the
    simulator must see (and quantisation must find the parameter)."""
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (self.w * 2)

    graph = lower_and_compare(Scaled(), torch.randn(2, 3))
    assert ops(graph) == [Op.MUL, Op.MUL]
    assert graph.constant(graph.nodes[0].inputs[0]).origin == "parameter"


# --- what the IR cannot express ---------------------------------------------------------------
class Cumsum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, 0)


class Sort(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(x).values


class ConvTranspose(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 2, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.w)


class FloorDivide(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.div(x, 2, rounding_mode="floor")


class PoolIndices(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2, return_indices=True)[1]


class IntBitwiseAnd(nn.Module):
    def forward(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        return i & j


class Argmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.argmax(-1)


class BoolMaskSelect(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[torch.tensor([True, False, True])]


def _op_line(module: type[nn.Module]) -> int:
    """The line of `module.forward` that calls the op (its last line)."""
    lines, first = inspect.getsourcelines(module.forward)
    return first + len(lines) - 1


@pytest.mark.parametrize(("module", "inputs", "aten_op", "why"), [
    (Cumsum, (torch.randn(3, 4),), "aten.cumsum.default", ""),
    (Sort, (torch.randn(3, 4),), "aten.sort.default", ""),
    (ConvTranspose, (torch.randn(1, 3, 4, 4),), "aten.convolution.default", "non-transposed"),
    (FloorDivide, (torch.randn(3, 4),), "aten.div.Tensor_mode", "rounding_mode='floor'"),
    (PoolIndices, (torch.randn(1, 1, 4, 4),), "aten.max_pool2d_with_indices.default", "output 1"),
    (IntBitwiseAnd, (torch.arange(4), torch.arange(4)), "aten.bitwise_and.Tensor", "only bool"),
    (Argmax, (torch.randn(3, 4),), "aten.argmax.default", ""),
    (BoolMaskSelect, (torch.randn(3, 4),), "aten.index.Tensor", "data-dependent shape"),
], ids=["cumsum", "sort", "conv-transpose2d", "floor-divide", "max-pool-indices", "int-bitwise-and", "argmax",
        "bool-mask-select"])
def test_unsupported_op_names_aten_op_and_source_line(module: type[nn.Module], inputs: tuple, aten_op: str,
                                                      why: str) -> None:
    with pytest.raises(ir.UnsupportedOpError) as caught:
        ir.from_torch(module(), inputs)
    message = str(caught.value)
    assert "\n" not in message
    assert aten_op in message and why in message
    assert f"{HERE}:{_op_line(module)} in forward: " in message, message
    assert isinstance(caught.value, ir.BitsmithError)


def test_unsupported_op_message_names_the_module_path() -> None:
    model = nn.Sequential(nn.Linear(4, 4), Cumsum())
    with pytest.raises(ir.UnsupportedOpError, match=r"aten\.cumsum\.default .*module 1"):
        ir.from_torch(model, (torch.randn(2, 4),))


# --- the validator ---------------------------------------------------------------------------------
def _matmul_graph() -> ir.Graph:
    from bitsmith.ir import dtypes

    b = ir.GraphBuilder("mm")
    x = b.input("x", ir.TensorType((3, 4), dtypes.F32))
    w = b.constant("w", np.ones((4, 5), np.float32))
    return b.build([b.op(Op.MATMUL, [x, w])])


def test_verify_catches_a_declared_shape_that_disagrees_with_the_shape_rules() -> None:
    graph = _matmul_graph().verify()
    node = graph.nodes[0]
    wrong = ir.Node(node.op, node.inputs, ir.Value(node.name, ir.TensorType((3, 4), node.type.dtype)), node.attrs)
    message = r"%matmul \(matmul\): declared type f32\[3,4\] but its inputs give f32\[3,5\]"
    with pytest.raises(ir.VerifyError, match=message):
        graph.replace(nodes=(wrong,)).verify()


def test_verify_catches_operands_whose_shapes_do_not_fit() -> None:
    graph = _matmul_graph()
    w = graph.constants[0]
    bad_w = ir.Constant(ir.Value(w.name, ir.TensorType((5, 5), w.type.dtype)), np.ones((5, 5), np.float32))
    with pytest.raises(ir.VerifyError, match=r"%matmul \(matmul\): inner dimensions differ: \[3,4\] @ \[5,5\]"):
        graph.replace(constants=(bad_w,)).verify()


def test_builder_rejects_a_node_whose_operands_do_not_fit() -> None:
    from bitsmith.ir import dtypes

    b = ir.GraphBuilder("bad")
    x = b.input("x", ir.TensorType((2, 3, 4, 4), dtypes.F32))
    w = b.constant("w", np.ones((5, 2, 3, 3), np.float32))
    with pytest.raises(ir.VerifyError, match="input has 3 channels but the weight"):
        b.op(Op.CONV2D, [x, w])


# --- literals and shape-only models -------------------------------------------------------------------
def test_literals_keep_the_sign_of_zero() -> None:
    """Equal scalars share one literal, but 0.0 and -0.0 are different scalars."""
    class Zeros(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x * 0.0, x * -0.0

    graph = ir.from_torch(Zeros(), (torch.ones(2),))
    plus, minus = ir.interpret(graph, [np.ones(2, np.float32)])
    assert not np.signbit(plus).any() and np.signbit(minus).all()


def test_meta_device_model_lowers_to_a_shape_only_graph() -> None:
    """Weights without storage become shape-only constants, batch-norm folding included."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    graph = ir.from_torch(model.eval(), (torch.empty(1, 3, 6, 6, device="meta"),))
    assert graph.shape_only
    assert ops(graph) == [Op.CONV2D, Op.RELU, Op.RESHAPE, Op.LINEAR], str(graph)
    assert graph.output_values()[0].type.shape == (1, 10)
    with pytest.raises(ir.InterpretError, match="shape-only"):
        ir.interpret(graph, [np.zeros((1, 3, 6, 6), np.float32)])


# --- tanh-GELU recognition ----------------------------------------------------------------------
class SpelledOutTanhGelu(nn.Module):
    """GPT-2/Phi's gelu_new, written as elementwise ops; `cubic` lets a test break it."""

    def __init__(self, cubic: float = 0.044715) -> None:
        super().__init__()
        self.cubic = cubic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + self.cubic * torch.pow(x, 3.0))))


def test_spelled_out_tanh_gelu_becomes_one_gelu_node() -> None:
    from transformers.activations import NewGELUActivation

    x = torch.randn(4, 33)
    for module in (SpelledOutTanhGelu(), NewGELUActivation()):
        graph = ir.from_torch(module, (x,))
        assert [n.op for n in graph.nodes] == [Op.GELU]
        assert graph.nodes[0].attrs["approximate"] == "tanh"
        reference = torch.nn.functional.gelu(x, approximate="tanh").numpy()
        assert np.abs(ir.interpret(graph, [x.numpy()])[0] - reference).max() <= 1e-5 * np.abs(reference).max()


def test_a_different_constant_is_not_taken_for_gelu() -> None:
    graph = ir.from_torch(SpelledOutTanhGelu(cubic=0.04), (torch.randn(4, 8),))
    assert Op.GELU not in {n.op for n in graph.nodes} and Op.TANH in {n.op for n in graph.nodes}
