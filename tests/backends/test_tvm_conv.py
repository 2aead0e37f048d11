"""Quantised conv2d through TVM (`backends.tvm.conv`): the weight's matrix view
against its own dequantisation, single convs with every geometry attribute on
each kernel path, and ResNet-tiny, all against `ir.interpret`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bitsmith.api import load, lower
from bitsmith.backends.tvm.conv import conv_weight_matrix
from bitsmith.backends.tvm.graph_runtime import GraphRunner, time_layers
from bitsmith.backends.tvm.lower import lower_graph
from bitsmith.backends.tvm.packing import PackingError
from bitsmith.backends.tvm.runtime import supports
from bitsmith.ir.dtypes import dtype
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.graph import Constant, Graph, GraphBuilder
from bitsmith.ir.interpret import interpret
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights

needs_vnni = pytest.mark.skipif(not supports("vnni"), reason="this CPU lacks AVX-512 VNNI")


@pytest.mark.parametrize(("scheme", "options"), [
    ("int4_sym", dict(group_size=32)),
    ("int4", dict(granularity="channel", group_size=None, asymmetric=True)),
    ("int8_sym", dict(granularity="tensor", group_size=None)),
    ("bitmod4", dict(group_size=32, scale_bits=8)),  # two-level scales fold to float32
    ("mxfp4", dict()),
])
def test_the_matrix_view_is_the_weight_with_channels_fastest(scheme: str, options: dict) -> None:
    w = np.random.default_rng(0).standard_normal((8, 64, 3, 2)).astype(np.float32)
    spec = quantize(w, scheme, axis=1, **options)
    matrix = conv_weight_matrix(spec)
    assert matrix.shape == (8, 3 * 2 * 64) and matrix.axis == 1
    expected = spec.dequantize().transpose(0, 2, 3, 1).reshape(8, -1)  # k = (kh*KW + kw)*C + c
    np.testing.assert_allclose(matrix.dequantize(), expected, rtol=2e-7, atol=0)


def _conv_graph(c: int, o: int, hw: tuple[int, int], kernel: tuple[int, int], *, stride=(1, 1), padding=(0, 0),
                dilation=(1, 1), groups: int = 1, bias: bool = True, scheme: str = "int4_sym") -> Graph:
    rng = np.random.default_rng(3)
    b = GraphBuilder("conv")
    x = b.input("x", TensorType((2, c, *hw), dtype("f32")))
    w = b.constant("w", rng.standard_normal((o, c // groups, *kernel)).astype(np.float32))
    operands = [x, w] + ([b.constant("bias", rng.standard_normal(o).astype(np.float32))] if bias else [])
    out = b.op(Op.CONV2D, operands, dict(stride=stride, padding=padding, dilation=dilation, groups=groups))
    return quantize_weights(b.build([out]), scheme, group_size=32)[0]


GEOMETRIES = {
    "3x3 same": dict(hw=(9, 7), kernel=(3, 3), padding=(1, 1)),
    "strided, dilated, no bias": dict(hw=(11, 12), kernel=(3, 2), stride=(2, 3), padding=(2, 1), dilation=(2, 1),
                                      bias=False),
    "1x1 output (few rows)": dict(hw=(3, 3), kernel=(3, 3)),
    "grouped": dict(hw=(6, 6), kernel=(3, 3), padding=(1, 1), groups=2),
}


@pytest.mark.parametrize("kernel", ["float", pytest.param("vnni", marks=needs_vnni),
                                    pytest.param("lut", marks=needs_vnni)])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_a_quantised_conv_matches_interpret(geometry: str, kernel: str) -> None:
    g = GEOMETRIES[geometry]
    graph = _conv_graph(64, 32, **g)
    runner = GraphRunner(graph, kernel=kernel if g.get("groups", 1) == 1 else "float")
    data = {"x": np.random.default_rng(4).standard_normal(graph.inputs[0].type.shape).astype(np.float32)}
    check = runner.check(data)
    assert check.ok, check.describe()
    batch, _, oh, ow = graph.value(graph.outputs[0]).type.shape
    rows = batch * oh * ow
    [layer] = runner.lowered.packed
    if g.get("groups", 1) != 1:
        assert layer.path == "dense"  # decoded once, Relax's grouped conv2d
    elif kernel == "float":
        assert layer.path == ("dense" if rows >= 16 else "blocked")
    else:
        assert layer.path == kernel and layer.shape.m == rows


def _resnet_without_stem_quantised(scheme: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """ResNet-tiny, every conv and the classifier quantised per output channel,
    except the 3-channel stem (groups of 3 are below any packed block; first
    layers are commonly kept wide)."""
    loaded = load("resnet-tiny")
    graph = lower(loaded)
    inputs = {v.name: x.detach().numpy() for v, x in zip(graph.inputs, loaded.example_inputs, strict=True)}
    quantised = quantize_weights(graph, scheme, group_size=None, granularity="channel")[0]
    stem = graph.producer("stem.0").inputs[1]
    constants = tuple(graph.constant(stem) if c.name == stem else c for c in quantised.constants)
    return dataclasses.replace(quantised, constants=constants), inputs


@pytest.mark.parametrize("scheme", ["int8", "int4_sym", "bitmod4", "int2_sym", "ternary"])
def test_resnet_tiny_quantised_matches_interpret(scheme: str) -> None:
    graph, inputs = _resnet_without_stem_quantised(scheme)
    for kernel in ("float", "auto"):
        runner = GraphRunner(graph, kernel=kernel)
        check = runner.check(inputs)
        assert check.ok, f"{kernel}: {check.describe()}"
        convs = [layer for layer in runner.lowered.packed if graph.producer(layer.node).op is Op.CONV2D]
        assert len(convs) == 5
    if supports("vnni"):  # the 32-channel conv's groups of 32 fit the VNNI layout; the 16-channel ones do not
        assert {layer.node for layer in convs if layer.path == "vnni"} == {"layer2.conv2"}


def test_time_layers_times_the_quantised_convs() -> None:
    graph, _ = _resnet_without_stem_quantised("int4_sym")
    timings = time_layers(graph, repeat=2, min_repeat_ms=1)
    assert set(timings) == {n.name for n in graph.nodes if n.op in (Op.CONV2D, Op.LINEAR)}


def test_a_conv_weight_the_packing_cannot_hold_is_a_one_line_error() -> None:
    graph, _ = _resnet_without_stem_quantised("int8")
    stem = graph.producer("stem.0").inputs[1]
    spec = quantize(graph.constant(stem).data, "int8", axis=1, granularity="channel", group_size=None)
    constants = tuple(Constant(c.value, None, c.origin, spec) if c.name == stem else c for c in graph.constants)
    with pytest.raises(PackingError, match=r"^weight stem\.0\.weight_folded: group size 3 is not a multiple") as err:
        lower_graph(dataclasses.replace(graph, constants=constants))
    assert "\n" not in str(err.value)


def test_interpret_is_the_reference_not_a_copy_of_the_lowering() -> None:
    """The im2col order is checked against torch's conv2d as well, so a shared
    mistake in `interpret` and the lowering cannot pass unseen."""
    torch = pytest.importorskip("torch")
    graph = _conv_graph(32, 16, (8, 8), (3, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    data = {"x": np.random.default_rng(5).standard_normal(graph.inputs[0].type.shape).astype(np.float32)}
    spec = graph.constant("w").quant
    expected = torch.nn.functional.conv2d(torch.from_numpy(data["x"]), torch.from_numpy(spec.dequantize().astype(np.float32)),
                                          torch.tensor(graph.constant("bias").data), stride=(2, 1), padding=(1, 2),
                                          dilation=(1, 2)).numpy()
    got = GraphRunner(graph, kernel="float")(data)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(interpret(graph, data)[0], expected, rtol=1e-4, atol=1e-4)
