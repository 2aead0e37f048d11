"""The IR core: type inference in `GraphBuilder` (checked against torch), the
validator naming the node at fault, topological sorting, the networkx view and the
printer's one-line-per-node form."""

from __future__ import annotations

import dataclasses
import random

import networkx as nx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bitsmith.ir import dtypes
from bitsmith.ir.errors import VerifyError
from bitsmith.ir.graph import Graph, GraphBuilder, Value
from bitsmith.ir.ops import Op
from bitsmith.ir.printer import format_node
from bitsmith.ir.types import TensorType


def f32(*shape: int, layout: str = "") -> TensorType:
    return TensorType(shape, dtypes.F32, layout)


def mlp() -> Graph:
    """x -> fc1 -> relu -> fc2 -> softmax, weights with data and fc2 shape-only."""
    b = GraphBuilder("mlp")
    x = b.input("x", f32(2, 64))
    w1 = b.constant("fc1.weight", np.zeros((128, 64), np.float32), f32(128, 64, layout="NK"))
    w2 = b.constant("fc2.weight", type=f32(10, 128, layout="NK"))
    b2 = b.constant("fc2.bias", np.zeros(10, np.float32))
    h = b.op(Op.LINEAR, [x, w1], name="fc1")
    h = b.op(Op.RELU, [h])
    h = b.op(Op.LINEAR, [h, w2, b2], name="fc2")
    return b.build([b.op(Op.SOFTMAX, [h], {"axis": -1})])


def replace_node(graph: Graph, name: str, **changes: object) -> Graph:
    nodes = [dataclasses.replace(n, **changes) if n.name == name else n for n in graph.nodes]
    return graph.replace(nodes=nodes)


# --- type inference ------------------------------------------------------------------


def test_linear_infers_its_type() -> None:
    graph = mlp()
    assert graph.value("fc1").type == f32(2, 128)
    assert graph.value("fc2").type == f32(2, 10)
    assert graph.verify() is graph


def test_matmul_broadcasts_batch_dims() -> None:
    b = GraphBuilder("g")
    a = b.input("a", f32(3, 1, 4, 5))
    c = b.input("c", f32(2, 5, 6))
    assert b.type_of(b.op(Op.MATMUL, [a, c])) == f32(3, 2, 4, 6)


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [((1, 1), (0, 0), (1, 1), 1), ((2, 2), (1, 1), (1, 1), 1), ((2, 3), (0, 2), (2, 1), 2),
     ((3, 1), (2, 0), (1, 3), 4), ((1, 2), (1, 1), (2, 2), 4)],
)
def test_conv2d_shape_matches_torch(stride, padding, dilation, groups) -> None:
    x, w = torch.zeros(2, 8, 13, 11), torch.zeros(12, 8 // groups, 3, 2)
    expected = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups).shape
    b = GraphBuilder("g")
    xi = b.input("x", f32(*x.shape))
    wi = b.constant("w", type=f32(*w.shape))
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    assert b.type_of(b.op(Op.CONV2D, [xi, wi], attrs)).shape == tuple(expected)


@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation",
    [((5, 5), (2, 2), (2, 2), (1, 1), (1, 1)), ((7, 6), (3, 3), (2, 2), (1, 0), (1, 1)),
     ((8, 9), (3, 2), (3, 2), (1, 1), (2, 1)), ((6, 6), (2, 2), (2, 2), (0, 0), (1, 1))],
)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_shape_matches_torch(size, kernel, stride, padding, dilation, ceil_mode) -> None:
    x = torch.zeros(1, 3, *size)
    expected = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode).shape
    b = GraphBuilder("g")
    xi = b.input("x", f32(*x.shape))
    attrs = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    assert b.type_of(b.op(Op.MAX_POOL2D, [xi], attrs)).shape == tuple(expected)


def test_builder_rejects_a_bad_node_by_name() -> None:
    b = GraphBuilder("g")
    x = b.input("x", f32(2, 64))
    w = b.constant("w", type=f32(128, 32))
    with pytest.raises(VerifyError, match=r"^node %fc1 \(linear\): input has 64 features"):
        b.op(Op.LINEAR, [x, w], name="fc1")


# --- the validator -------------------------------------------------------------------


def verify_error(graph: Graph, pattern: str) -> None:
    with pytest.raises(VerifyError, match=pattern) as info:
        graph.verify()
    assert "\n" not in str(info.value)


def test_linear_with_wrong_k_is_named() -> None:
    graph = mlp()
    weight = dataclasses.replace(graph.constants[0], value=Value("fc1.weight", f32(128, 63)), data=None)
    verify_error(graph.replace(constants=(weight, *graph.constants[1:])),
                 r"^node %fc1 \(linear\): input has 64 features but the weight \[128,63\] expects 63$")


def test_matmul_inner_dim_mismatch_is_named() -> None:
    b = GraphBuilder("g")
    a, c = b.input("a", f32(2, 3)), b.input("c", f32(3, 4))
    graph = b.build([b.op(Op.MATMUL, [a, c], name="mm")])
    bad = graph.replace(inputs=(graph.inputs[0], Value("c", f32(5, 4))))
    verify_error(bad, r"^node %mm \(matmul\): inner dimensions differ: \[2,3\] @ \[5,4\]$")


def test_declared_type_differing_from_inferred_is_named() -> None:
    graph = replace_node(mlp(), "relu", output=Value("relu", TensorType((2, 128), dtypes.F16)))
    verify_error(graph, r"^node %relu \(relu\): declared type f16\[2,128\] but its inputs give f32\[2,128\]$")


def test_reading_a_later_value_is_named() -> None:
    graph = mlp()
    nodes = list(graph.nodes)
    nodes[0], nodes[1] = nodes[1], nodes[0]
    verify_error(graph.replace(nodes=nodes), r"^node %relu \(relu\): reads %fc1, which is not defined before it$")


def test_duplicate_name_is_named() -> None:
    graph = mlp()
    verify_error(graph.replace(inputs=(Value("fc1.weight", f32(2, 64)),)), r"name %fc1.weight is defined twice")


def test_unknown_attribute_is_named() -> None:
    graph = replace_node(mlp(), "softmax", attrs={"axis": -1, "dim": 1})
    verify_error(graph, r"^node %softmax \(softmax\): unknown attribute 'dim'")


def test_wrong_arity_is_named() -> None:
    graph = replace_node(mlp(), "fc1", inputs=("x",))
    verify_error(graph, r"^node %fc1 \(linear\): takes 2-3 inputs, got 1$")


def test_missing_output_is_named() -> None:
    verify_error(mlp().replace(outputs=("gone",)), r"output %gone is not defined")


# --- ordering and views --------------------------------------------------------------


def test_toposorted_reorders_a_shuffled_graph() -> None:
    graph = mlp()
    nodes = list(graph.nodes)
    random.Random(0).shuffle(nodes)
    shuffled = graph.replace(nodes=nodes)
    assert shuffled.nodes != graph.nodes
    assert shuffled.toposorted() == graph  # a chain has one topological order
    assert graph.toposorted() is graph


def test_toposorted_detects_a_cycle() -> None:
    graph = replace_node(mlp(), "fc1", inputs=("softmax", "fc1.weight"))
    with pytest.raises(VerifyError, match="cycle through node %"):
        graph.toposorted()


def test_to_networkx_is_the_dataflow_dag() -> None:
    graph = mlp()
    g = graph.to_networkx()
    assert nx.is_directed_acyclic_graph(g)
    assert set(g.nodes) == {"x", "fc1.weight", "fc2.weight", "fc2.bias", "fc1", "relu", "fc2", "softmax"}
    assert set(g.edges(keys=True)) == {("x", "fc1", 0), ("fc1.weight", "fc1", 1), ("fc1", "relu", 0), ("relu", "fc2", 0),
                                       ("fc2.weight", "fc2", 1), ("fc2.bias", "fc2", 2), ("fc2", "softmax", 0)}
    assert set(g.edges()) == {("x", "fc1"), ("fc1.weight", "fc1"), ("fc1", "relu"), ("relu", "fc2"),
                            ("fc2.weight", "fc2"), ("fc2.bias", "fc2"), ("fc2", "softmax")}
    assert g.nodes["fc1"]["op"] is Op.LINEAR and g.nodes["x"]["kind"] == "input"
    assert g.edges["fc2.bias", "fc2", 2]["index"] == 2
    assert list(nx.topological_sort(g))[-1] == "softmax"


# --- the printer ---------------------------------------------------------------------


def test_printer_shows_one_line_per_node() -> None:
    assert str(mlp()).splitlines() == [
        "graph mlp(%x: f32[2,64]) {",
        "  %fc1.weight = const f32[128,64]@NK parameter",
        "  %fc2.weight = const f32[10,128]@NK parameter shape-only",
        "  %fc2.bias = const f32[10] parameter",
        "  %fc1 = linear(%x, %fc1.weight) : f32[2,128]",
        "  %relu = relu(%fc1) : f32[2,128]",
        "  %fc2 = linear(%relu, %fc2.weight, %fc2.bias) : f32[2,10]",
        "  %softmax = softmax(%fc2, axis=-1) : f32[2,10]",
        "  return %softmax",
        "}",
    ]


def test_printer_leaves_out_defaults_and_shows_tuples() -> None:
    b = GraphBuilder("g")
    x = b.input("x", f32(1, 3, 8, 8))
    pool = b.op(Op.MAX_POOL2D, [x], {"kernel": (2, 2), "stride": (2, 2), "ceil_mode": True})
    mean = b.op(Op.MEAN, [pool], {"axes": (3,)})
    graph = b.build([mean])
    assert format_node(graph.nodes[0]) == (
        "%max_pool2d = max_pool2d(%x, kernel=(2, 2), stride=(2, 2), ceil_mode=True) : f32[1,3,4,4]")
    assert format_node(graph.nodes[1]) == "%mean = mean(%max_pool2d, axes=(3,)) : f32[1,3,4]"


def test_printer_shows_scalar_literals() -> None:
    """Also guards 0-d constant data staying 0-d (np.ascontiguousarray would make it 1-d)."""
    b = GraphBuilder("g")
    x = b.input("x", f32(2))
    one = b.constant("one", np.array(1.5, np.float32), origin="literal")
    graph = b.build([b.op(Op.ADD, [x, one])])
    assert "  %one = const f32[] literal 1.5" in str(graph).splitlines()
    assert graph.constant("one").data.shape == ()
