"""The torch executor (`ir/torch_run.py`) against the numpy interpreter, the golden
model: every kernel case of the interpreter's own tests (each `Op` at least once,
special values included), half precision, the small zoo models end to end, and
gradients that reach the constants handed in as tensors.

Tolerance: the rule of tests/ir/numerics.py, max|torch − numpy| / max|numpy| ≤ 1e-5
for fp32 (both sides round differently inside a kernel: SDPA, conv and matmul sum in
their own order), one unit in the last place for f16/bf16; integers and booleans,
NaN and infinity positions exactly equal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from numerics import assert_matches, to_numpy
from test_interpret import HALF_KERNELS, KERNELS, K

import bitsmith.ir as ir
from bitsmith.ir.dtypes import from_numpy
from bitsmith.ir.frontend import from_torch
from bitsmith.ir.ops import Op
from bitsmith.ir.torch_run import run_node, run_torch
from bitsmith.zoo import load_model


def single_op(op: Op, arrays: list[np.ndarray], attrs: dict | None) -> ir.Graph:
    b = ir.GraphBuilder(op.value)
    names = [b.input(f"x{i}", ir.TensorType(a.shape, from_numpy(a.dtype))) for i, a in enumerate(arrays)]
    return b.build([b.op(op, names, attrs)]).verify()


def _f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(7).standard_normal(shape).astype(np.float32)


# (id, op, inputs, attrs) for ops the interpreter's kernel cases (checked against torch) do not cover.
OWN_CASES = [
    ("fake-quant-token-int8", Op.FAKE_QUANT, lambda: [_f32(3, 8) * 4], dict(format="int8_sym")),
    ("fake-quant-token-fp8", Op.FAKE_QUANT, lambda: [_f32(2, 3, 8)], dict(format="fp8_e4m3")),
    ("fake-quant-tensor-uint8", Op.FAKE_QUANT, lambda: [_f32(4, 6)],
     dict(format="uint8", granularity="tensor", scale=0.02, zero_point=128)),
]
CASES = [(k.id, k.op, k.inputs, k.attrs) for k in KERNELS] + OWN_CASES


@pytest.mark.parametrize("op, inputs, attrs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_kernel_matches_the_interpreter(op: Op, inputs: Callable[[], list[np.ndarray]], attrs: dict) -> None:
    arrays = inputs()
    graph = single_op(op, arrays, attrs)
    (ours,) = run_torch(graph, arrays)
    assert_matches(to_numpy(ours), ir.interpret(graph, arrays)[0])


def test_every_op_is_tested() -> None:
    assert not set(Op) - {op for _, op, _, _ in CASES}


def test_fake_quant_passes_gradients_straight_through() -> None:
    data = _f32(3, 8)
    graph = single_op(Op.FAKE_QUANT, [data], dict(format="int4"))
    x = torch.tensor(data, requires_grad=True)
    out = run_node(graph.nodes[0], [x])
    (out * torch.arange(8.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile(np.arange(8.0, dtype=np.float32), (3, 1)))
    assert_matches(to_numpy(out), ir.interpret(graph, [data])[0])


ZOO = [("mlp", {}), ("resnet-tiny", {}), ("llama-tiny", {}), ("llama-tiny", {"phase": "decode"}),
       ("llama-tiny", {"seq_len": 33, "batch": 2}), ("minilm", {})]


@pytest.mark.parametrize("name, options", ZOO, ids=["mlp", "resnet-tiny", "llama-tiny", "llama-tiny-decode",
                                                   "llama-tiny-s33-b2", "minilm"])
def test_zoo_model_matches_the_interpreter(name: str, options: dict) -> None:
    model = load_model(name, **options)
    graph = from_torch(model.module, model.example_inputs, name=name, input_names=model.input_names)
    inputs = [t.numpy() for t in model.example_inputs]
    with torch.no_grad():
        ours = run_torch(graph, inputs)
    expected = ir.interpret(graph, inputs)
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected, strict=True):
        assert_matches(to_numpy(a), b)


def test_gradients_reach_the_constants_given_as_tensors() -> None:
    """d(sum of y)/dW for y = x Wᵀ is the column sums of x, in every row of W."""
    rng = np.random.default_rng(0)
    b = ir.GraphBuilder("linear")
    x = b.input("x", ir.TensorType((5, 3), ir.DType("f32", 32, "float")))
    graph = b.build([b.op(Op.LINEAR, [x, b.constant("w", rng.standard_normal((4, 3)).astype(np.float32))])])
    xs = rng.standard_normal((5, 3)).astype(np.float32)
    w = torch.tensor(graph.constant("w").data, requires_grad=True)
    (y,) = run_torch(graph, [xs], constants={"w": w})
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.tile(xs.sum(axis=0), (4, 1)), rtol=1e-6)
    with pytest.raises(ir.InterpretError, match="constant %w: expected shape \\[4, 3\\], got \\[3, 4\\]"):
        run_torch(graph, [xs], constants={"w": w.detach().T})
    with pytest.raises(ir.InterpretError, match="has no constant %bias"):
        run_torch(graph, [xs], constants={"bias": w})


def test_shape_only_graph_cannot_run() -> None:
    b = ir.GraphBuilder("shape_only")
    x = b.input("x", ir.TensorType((2, 4), from_numpy(np.float32)))
    graph = b.build([b.op(Op.LINEAR, [x, b.constant("w", type=ir.TensorType((3, 4), from_numpy(np.float32)))])])
    with pytest.raises(ir.InterpretError, match="shape-only: constant %w has no data"):
        run_torch(graph, [np.zeros((2, 4), np.float32)])
