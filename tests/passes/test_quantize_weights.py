"""Quantising a whole graph's GEMM weights: which tensors, along which axis, the
numerics against torch with the dequantised weights, shape-only graphs, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitsmith.api import lower
from bitsmith.ir import GraphBuilder, Op, interpret
from bitsmith.ir.dtypes import F32
from bitsmith.ir.formats.schemes import QuantizationError
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights
from bitsmith.zoo import load_model


def test_resnet_conv_and_linear_weights_are_grouped_along_the_reduction_axis() -> None:
    graph = lower("resnet-tiny")
    quantised, reports = quantize_weights(graph, "int8_sym", granularity="channel")
    convs = [n for n in graph.nodes if n.op is Op.CONV2D]
    linears = [n for n in graph.nodes if n.op is Op.LINEAR]
    assert len(reports) == len(convs) + len(linears)
    for node in convs:
        assert quantised.constant(node.inputs[1]).quant.axis == 1  # OIHW: input channel
    for node in linears:
        assert quantised.constant(node.inputs[1]).quant.axis == 1  # NK: K
    untouched = [c for c in quantised.constants if c.quant is None and c.origin == "parameter"]
    assert untouched and all(c.type.rank == 1 for c in untouched)  # biases stay float


def test_quantised_mlp_matches_torch_with_the_dequantised_weights() -> None:
    loaded = load_model("mlp")
    graph = lower("mlp")
    quantised, reports = quantize_weights(graph, "bitmod4", group_size=32)
    module = loaded.module
    state = module.state_dict()
    for report in reports:
        state[report.name] = torch.from_numpy(quantised.constant(report.name).data.copy())
    module.load_state_dict(state)
    x = loaded.example_inputs[0]
    expected = module(x).detach().numpy()
    (out,) = interpret(quantised, {quantised.inputs[0].name: x.numpy()})
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    (float_out,) = interpret(graph, {graph.inputs[0].name: x.numpy()})
    assert not np.allclose(out, float_out, atol=1e-6)
    for report in reports:
        assert 8 < report.sqnr_db < 40 and report.bits_per_weight == 4 + 16 / 32
        assert sum(report.format_counts.values()) == report.spec.groups_shape[0] * report.spec.groups_shape[1]


def test_sqnr_in_the_report_is_computed_from_the_weights() -> None:
    graph = lower("mlp")
    quantised, reports = quantize_weights(graph, "int4_sym", group_size=32)
    for report in reports:
        w = graph.constant(report.name).data.astype(np.float64)
        q = quantised.constant(report.name).quant.dequantize()
        assert report.sqnr_db == pytest.approx(10 * np.log10(np.sum(w**2) / np.sum((q - w) ** 2)), rel=1e-12)
        assert report.max_abs_error == pytest.approx(np.max(np.abs(q - w)), rel=1e-12)


def test_shape_only_graph_gets_shape_only_specs() -> None:
    b = GraphBuilder("big")
    x = b.input("x", TensorType((1, 4096), F32))
    w = b.constant("w", type=TensorType((11008, 4096), F32, "NK"))
    graph = b.build([b.op(Op.LINEAR, [x, w])])
    quantised, (report,) = quantize_weights(graph, "bitmod3", scale_bits=8)
    assert quantised.constant("w").quant.shape_only and report.sqnr_db is None
    assert report.bits_per_weight == 3 + 8 / 128 + 16 / 4096


def test_indivisible_group_size_names_the_tensor() -> None:
    graph = lower("mlp")
    with pytest.raises(QuantizationError, match=r"weight %\S+ \(of %\S+\): group size 48 does not divide"):
        quantize_weights(graph, "int4", group_size=48)
