"""Functional simulation: graphs whose weight GEMMs run on each target's PE model
give the reference interpreter's outputs on the same quantised graph.

Integer paths (integer activations and weights) are exact: both sides sum
integers exactly, in int64 on the PE and in the node's integer dtype in the
interpreter, far from overflow here.

Float paths (the zoo models: f32 activations) are compared per PE layer, on the
same inputs. The PE sums in float64 from the weights' exact values; the
interpreter reads the weights rounded once to f32 (relative error <= u) and sums
K products in f32 in whatever order BLAS picks (error <= gamma_K sum|x w|,
gamma_K ~ K u); both results are rounded once to f32 (u |y| each, |y| <=
sum|x w| + |b|), the bias add once more, and float64's own error is ~2^-29 of
that. So
    |sim - ref| <= (K + 5) u (|x| @ |w|^T + |b|),   u = 2^-24,
where |x| @ |w|^T + |b| is computed by the interpreter on absolute values. The
graph outputs, where these differences have passed through later layers, are
also checked, with a loose relative tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_graphs import zoo_graph, zoo_inputs

from bitsmith.compiler import prepare_weights
from bitsmith.ir.dtypes import I32
from bitsmith.ir.graph import Graph, GraphBuilder
from bitsmith.ir.interpret import interpret, run_node
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.functional import run_functional
from bitsmith.targets import load_target

U32 = 2.0**-24

# (target, scheme, granularity, group size) per model; every target whose PE takes
# float activations. Stripes, Loom and Bit Fusion walk integer activations, which
# the zoo's float models do not have: they are checked on integer graphs below.
CHANNEL = ("channel", None)
CASES = {
    "mlp": [("bitmod", "int8", *CHANNEL), ("bitmod", "bitmod4", "group", 32), ("bitmod", "int6", "group", 64),
            ("lut_tensor_core", "int4", *CHANNEL), ("lut_tensor_core", "int2", "group", 32),
            ("ant", "ant4", *CHANNEL), ("olive", "olive4", "group", 32), ("int8_systolic", "int8", *CHANNEL),
            ("fp16_mac", "f16", None, None)],
    "resnet-tiny": [("bitmod", "int8", *CHANNEL), ("lut_tensor_core", "int4", "tensor", None),
                    ("ant", "ant4", *CHANNEL), ("int8_systolic", "int8", *CHANNEL), ("fp16_mac", "f16", None, None)],
    "llama-tiny": [("bitmod", "int8", *CHANNEL), ("bitmod", "bitmod4", "group", 4),
                   ("lut_tensor_core", "int2", *CHANNEL), ("ant", "ant4", *CHANNEL), ("olive", "olive4", "group", 4),
                   ("int8_systolic", "int8", *CHANNEL), ("fp16_mac", "f16", None, None)],
}


def prepared(model: str, target: str, scheme: str, granularity: str | None, group_size: int | None) -> Graph:
    if granularity is None:  # a wide float type: weights stored in it
        return prepare_weights(zoo_graph(model), target, scheme)
    return quantize_weights(zoo_graph(model), scheme, granularity=granularity, group_size=group_size)[0]


def reduction_length(graph: Graph, node_name: str) -> int:
    node = graph.producer(node_name)
    weight = graph.value(node.inputs[1]).type.shape
    return weight[0] if node.op is Op.MATMUL else int(np.prod(weight[1:]))


@pytest.mark.parametrize(("model", "case"), [(m, c) for m, cases in CASES.items() for c in cases],
                         ids=lambda v: v if isinstance(v, str) else "-".join(str(x) for x in v if x))
def test_zoo_model_matches_the_interpreter(model: str, case: tuple) -> None:
    target, *quantisation = case
    graph = prepared(model, target, *quantisation)
    inputs = zoo_inputs(model)
    run = run_functional(graph, load_target(target), inputs, keep_values=True)
    gemm_layers = [n.name for n in graph.nodes if n.op in (Op.LINEAR, Op.CONV2D)]
    assert list(run.pe_layers) == gemm_layers
    for name in run.pe_layers:
        node = graph.producer(name)
        args = [run.values[i] for i in node.inputs]
        reference = run_node(node, args).astype(np.float64)
        magnitude = run_node(node, [np.abs(a) for a in args]).astype(np.float64)
        bound = (reduction_length(graph, name) + 5) * U32 * magnitude
        assert np.all(np.abs(run.values[name] - reference) <= bound), name
    for simulated, expected in zip(run.outputs, interpret(graph, inputs), strict=True):
        np.testing.assert_allclose(simulated, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def integer_graph(weight_dtype: np.dtype) -> tuple[Graph, dict[str, np.ndarray]]:
    """A linear layer and a grouped conv on small integers: exact on every path."""
    rng = np.random.default_rng(7)
    b = GraphBuilder("integers")
    x = b.input("x", TensorType((3, 16), I32))
    image = b.input("image", TensorType((1, 4, 6, 6), I32))
    w = b.constant("w", rng.integers(-7, 8, size=(8, 16)).astype(weight_dtype))
    k = b.constant("k", rng.integers(-7, 8, size=(6, 2, 3, 3)).astype(weight_dtype))
    out = b.op(Op.LINEAR, [x, w])
    conv = b.op(Op.CONV2D, [image, k], {"groups": 2, "padding": (1, 1), "stride": (2, 1)})
    inputs = {"x": rng.integers(-7, 8, size=(3, 16)).astype(np.int32),
              "image": rng.integers(0, 8, size=(1, 4, 6, 6)).astype(np.int32)}
    return b.build([out, conv]), inputs


@pytest.mark.parametrize(("target", "weight_dtype"), [("int8_systolic", np.int8), ("stripes", np.int16),
                                                      ("loom", np.int16), ("bitfusion", np.int8)])
def test_integer_paths_are_exact(target: str, weight_dtype: np.dtype) -> None:
    graph, inputs = integer_graph(weight_dtype)
    run = run_functional(graph, load_target(target), inputs)
    for simulated, expected in zip(run.outputs, interpret(graph, inputs), strict=True):
        assert simulated.dtype == expected.dtype
        np.testing.assert_array_equal(simulated, expected)


def test_pe_refusal_names_the_layer() -> None:
    graph = quantize_weights(zoo_graph("mlp"), "int4", granularity="channel", group_size=None, asymmetric=True)[0]
    with pytest.raises(SimulationError, match=r"^layer %0 \(linear\): pe 'bit_serial' cannot take uint4 weights"):
        run_functional(graph, load_target("bitmod"), zoo_inputs("mlp"))


def test_shape_only_graph_has_no_values() -> None:
    shape_only = quantize_weights(zoo_graph("mlp"), "int8", granularity="channel", group_size=None)[0]
    blank = shape_only.replace(constants=tuple(c.__class__(c.value, None, c.origin) for c in shape_only.constants))
    with pytest.raises(SimulationError, match="shape-only"):
        run_functional(blank, load_target("bitmod"), zoo_inputs("mlp"))
