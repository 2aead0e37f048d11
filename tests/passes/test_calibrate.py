"""Calibration: E[x²] per GEMM weight against independent references (numpy's
output error, torch's im2col), activation ranges against the interpreter, the
analysis store carrying it to allocate_bits, and the weighted objective steering
bits to the layer whose inputs are large."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitsmith.ir import Graph, GraphBuilder, Op, interpret
from bitsmith.ir.dtypes import F32
from bitsmith.ir.formats.quantize import quantize
from bitsmith.ir.types import TensorType
from bitsmith.passes.allocate_bits import allocate_bits
from bitsmith.passes.base import AnalysisStore, PassError
from bitsmith.passes.calibrate import Calibration, calibrate
from bitsmith.passes.pipeline import Pipeline


def _two_linears(rows: int, k: int, input_gain: float = 1.0, seed: int = 0) -> Graph:
    """x -> fc1 -> (× input_gain) -> fc2, weights of equal spread."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("two_linears")
    x = b.input("x", TensorType((rows, k), F32))
    h = b.op(Op.LINEAR, [x, b.constant("fc1.weight", rng.standard_normal((k, k)).astype(np.float32) / 8)], name="fc1")
    h = b.op(Op.MUL, [h, b.constant("gain", np.full((k,), input_gain, np.float32))], name="amplify")
    y = b.op(Op.LINEAR, [h, b.constant("fc2.weight", rng.standard_normal((k, k)).astype(np.float32) / 8)], name="fc2")
    return b.build([y])


def _orthogonal_columns(rows: int, k: int, seed: int = 1) -> np.ndarray:
    """X whose columns are orthogonal with unequal norms, so XᵀX/n is diagonal."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((rows, k)))
    return (q * np.sqrt(rows) * rng.uniform(0.2, 3.0, k)).astype(np.float32)


def test_weighted_error_is_the_output_error_on_the_calibration_inputs() -> None:
    rows, k = 256, 64
    x = _orthogonal_columns(rows, k)
    graph = _two_linears(rows, k)
    calibration = calibrate(graph, [x])
    _, allocation = allocate_bits(graph, ["int4_sym"], 5.0, group_size=32, calibration=calibration)
    w = graph.constant("fc1.weight").data.astype(np.float64)
    delta = quantize(w.astype(np.float32), "int4_sym", group_size=32, axis=-1).dequantize() - w
    x64 = x.astype(np.float64)
    direct = float(np.sum((x64 @ delta.T) ** 2)) / rows  # ||X (Q(W) − W)ᵀ||² / n
    assert allocation.layers[0].error == pytest.approx(direct, rel=1e-9)
    # fc2's inputs are fc1's outputs, which are correlated: the proxy is then the Hessian's diagonal
    h = x64 @ graph.constant("fc1.weight").data.astype(np.float64).T
    np.testing.assert_allclose(calibration.input_second_moment["fc2.weight"], np.mean(h * h, axis=0), rtol=1e-5)


def test_conv_moment_is_the_mean_square_of_torchs_im2col_columns() -> None:
    rng = np.random.default_rng(2)
    b = GraphBuilder("conv")
    image = b.input("image", TensorType((2, 4, 9, 7), F32))
    kernel = b.constant("conv.weight", rng.standard_normal((6, 2, 3, 3)).astype(np.float32))
    b.op(Op.CONV2D, [image, kernel], {"groups": 2, "padding": (1, 1), "stride": (2, 1)}, name="conv")
    graph = b.build(["conv"])
    x = rng.standard_normal((2, 4, 9, 7)).astype(np.float32) * np.arange(1, 5, dtype=np.float32)[:, None, None]
    moment = calibrate(graph, [x]).input_second_moment["conv.weight"]
    cols = torch.nn.functional.unfold(torch.from_numpy(x).double(), (3, 3), padding=(1, 1), stride=(2, 1))
    per_column = (cols**2).mean(dim=(0, 2)).numpy().reshape(2, 2, 3, 3)  # [group, C/g, kh, kw]
    np.testing.assert_allclose(moment, np.repeat(per_column, 3, axis=0), rtol=1e-10)
    assert moment.shape == graph.constant("conv.weight").type.shape


def test_constant_matmul_operand_reduces_along_its_rows_and_ranges_match_the_interpreter() -> None:
    rng = np.random.default_rng(3)
    b = GraphBuilder("mm")
    x = b.input("x", TensorType((2, 5, 16), F32))
    w = b.constant("proj", rng.standard_normal((16, 8)).astype(np.float32), origin="parameter")
    b.op(Op.MATMUL, [x, w], name="mm")
    b.op(Op.RELU, ["mm"], name="act")
    graph = b.build(["act"])
    xs = rng.standard_normal((2, 5, 16)).astype(np.float32)
    calibration = calibrate(graph, {"x": xs})
    np.testing.assert_allclose(calibration.input_second_moment["proj"][:, 0], np.mean(xs.reshape(-1, 16).astype(np.float64) ** 2, 0),
                               rtol=1e-10)
    out = interpret(graph, [xs])[0]
    assert calibration.ranges["act"] == (float(out.min()), float(out.max()))
    assert calibration.ranges["x"] == (float(xs.min()), float(xs.max()))
    assert "proj" not in calibration.ranges  # constants are not activations


def test_calibrated_allocation_gives_the_bits_to_the_layer_with_large_inputs() -> None:
    rows, k = 64, 64
    graph = _two_linears(rows, k, input_gain=20.0)
    x = np.random.default_rng(4).standard_normal((rows, k)).astype(np.float32)
    candidates, budget = ["int4_sym", "int8_sym"], (4.5 + 8.5) / 2  # room to upgrade one layer of two
    pipeline = Pipeline.of(["calibrate", "allocate_bits"], {"allocate_bits.candidates": candidates,
                                                          "allocate_bits.budget_bits": budget,
                                                          "allocate_bits.group_size": 32})
    result = pipeline.run(graph, inputs=[x])
    calibration = result.analyses.get(Calibration)
    assert calibration is not None and set(calibration.input_second_moment) == {"fc1.weight", "fc2.weight"}
    assert result.graph.constant("fc2.weight").quant.scheme == "int8_sym"
    assert result.graph.constant("fc1.weight").quant.scheme == "int4_sym"
    assert result.graph.nodes == graph.nodes and result.records[0].changed is False  # calibrate leaves the graph


def test_calibrate_needs_example_inputs_that_fit_the_graph() -> None:
    graph = _two_linears(8, 32)
    with pytest.raises(PassError, match="pass calibrate: needs example inputs"):
        Pipeline.of(["calibrate"]).run(graph)
    with pytest.raises(PassError, match=r"pass calibrate: input %x: expected f32\[8, ?32\]"):
        Pipeline.of(["calibrate"]).run(graph, inputs=[np.zeros((4, 32), np.float32)])


def test_calibration_of_another_graph_is_refused() -> None:
    calibration = Calibration({"other.weight": np.ones(32)}, {})
    with pytest.raises(PassError, match="no statistics for weight %fc1.weight"):
        allocate_bits(_two_linears(8, 32), ["int8_sym"], 9.0, group_size=32, calibration=calibration)


def test_analysis_store_is_keyed_by_type() -> None:
    store = AnalysisStore()
    assert store.get(Calibration) is None
    calibration = Calibration({}, {})
    store.put(calibration)
    assert store.get(Calibration) is calibration


def test_fisher_sensitivity_stores_a_weight_shaped_diagonal_per_weight_by_seed() -> None:
    graph = _two_linears(8, 32)
    x = np.random.default_rng(5).standard_normal((8, 32)).astype(np.float32)

    def run(**options: object) -> Calibration:
        settings = {f"calibrate.{key}": value for key, value in options.items()}
        return Pipeline.of(["calibrate"], settings).run(graph, inputs=[x]).analyses.get(Calibration)

    fisher = run(sensitivity="fisher", samples=4, seed=1)
    assert set(fisher.fisher_diagonal) == set(fisher.input_second_moment) == {"fc1.weight", "fc2.weight"}
    for name, diagonal in fisher.fisher_diagonal.items():
        assert diagonal.shape == graph.constant(name).type.shape and diagonal.dtype == np.float64
        assert np.all(diagonal >= 0) and np.any(diagonal > 0)
    again, other = run(sensitivity="fisher", samples=4, seed=1), run(sensitivity="fisher", samples=4, seed=2)
    for name, diagonal in fisher.fisher_diagonal.items():
        np.testing.assert_array_equal(again.fisher_diagonal[name], diagonal)
        assert not np.array_equal(other.fisher_diagonal[name], diagonal)
    assert run().fisher_diagonal is None  # the activation proxy, as before: no torch, no diagonal


def test_fisher_calibration_refuses_shape_only_graphs_missing_inputs_and_bad_options() -> None:
    b = GraphBuilder("shape_only")
    x = b.input("x", TensorType((2, 8), F32))
    shape_only = b.build([b.op(Op.LINEAR, [x, b.constant("w", type=TensorType((4, 8), F32))])])
    fisher = Pipeline.of(["calibrate"], {"calibrate.sensitivity": "fisher"})
    with pytest.raises(PassError, match="pass calibrate: graph shape_only is shape-only: constant %w has no data"):
        fisher.run(shape_only, inputs=[np.zeros((2, 8), np.float32)])
    with pytest.raises(PassError, match="pass calibrate: needs example inputs"):
        fisher.run(_two_linears(8, 32))
    with pytest.raises(PassError, match="calibrate.samples: Input should be greater than or equal to 1"):
        Pipeline.of(["calibrate"], {"calibrate.sensitivity": "fisher", "calibrate.samples": 0})
    with pytest.raises(PassError, match="calibrate.sensitivity: Input should be 'activation' or 'fisher'"):
        Pipeline.of(["calibrate"], {"calibrate.sensitivity": "hessian"})


def test_allocation_weighs_each_element_by_the_fisher_diagonal_when_present() -> None:
    """The moments favour fc2 (its inputs are 20x larger); the Fisher diagonal, which
    allocate_bits prefers when present, favours fc1, element by element."""
    graph = _two_linears(8, 32, input_gain=20.0)
    rng = np.random.default_rng(6)
    diagonal = {"fc1.weight": rng.uniform(0, 1000, (32, 32)), "fc2.weight": rng.uniform(0, 1, (32, 32))}
    moments = {"fc1.weight": np.ones(32), "fc2.weight": np.full(32, 400.0)}
    candidates, budget = ["int4_sym", "int8_sym"], (4.5 + 8.5) / 2  # room to upgrade one layer of two
    _, by_moments = allocate_bits(graph, candidates, budget, group_size=32, calibration=Calibration(moments, {}))
    quantised, allocation = allocate_bits(graph, candidates, budget, group_size=32,
                                          calibration=Calibration(moments, {}, diagonal))
    assert [layer.scheme for layer in by_moments.layers] == ["int4_sym", "int8_sym"]
    assert [layer.scheme for layer in allocation.layers] == ["int8_sym", "int4_sym"]
    w = graph.constant("fc2.weight").data.astype(np.float64)
    delta = quantised.constant("fc2.weight").quant.dequantize() - w
    assert allocation.layers[1].error == pytest.approx(float(np.sum(delta**2 * diagonal["fc2.weight"])), rel=1e-9)
