"""quantize_activations: where fake_quant nodes go (as text, and on the zoo's mlp
and llama-tiny), static scales against ranges the interpreter gives, dynamic
per-token scaling without calibration, idempotence, the targets it leaves alone,
one-line errors, the simulator's costs (GEMMs unchanged at the target's own width,
only the quantisers added; a narrower format narrows the GEMM), and MiniLM's
embeddings with int8 per-token activations."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from bitsmith.accuracy import embedding_accuracy, minilm_reference
from bitsmith.api import load, lower
from bitsmith.compiler import prepare_weights
from bitsmith.ir import Graph, GraphBuilder, Op, interpret
from bitsmith.ir.dtypes import F32
from bitsmith.ir.parse import parse_graph
from bitsmith.ir.types import TensorType
from bitsmith.passes.base import PassError
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.quantize_activations import ACTIVATION_OPERANDS
from bitsmith.simulator.simulate import simulate
from bitsmith.simulator.problem import GemmProblem, VectorProblem
from bitsmith.simulator.workload import workload
from bitsmith.targets import Target, load_target

INT8 = load_target("int8_systolic")


@cache
def zoo_graph(name: str) -> Graph:
    return lower(name)


@cache
def zoo_inputs(name: str) -> tuple[np.ndarray, ...]:
    return tuple(x.detach().numpy() for x in load(name).example_inputs)


def run(graph: Graph, target: Target | str | None, options: dict | None = None, *, calibrate: bool = False,
        inputs: object = None) -> Graph:
    target = load_target(target) if isinstance(target, str) else target
    names = ["calibrate", "quantize_activations"] if calibrate else ["quantize_activations"]
    return Pipeline.of(names, options).run(graph, target, inputs=inputs).graph


BEFORE = """
graph small(%x: f32[4,8], %kv: f32[6,8]) {
  %w = const f32[8,8]@NK parameter shape-only
  %h = linear(%x, %w) : f32[4,8]
  %g = linear(%x, %w) : f32[4,8]
  %att = attention(%h, %kv, %kv, scale=0.25) : f32[4,8]
  %t = permute(%kv, perm=(1, 0)) : f32[8,6]
  %mm = matmul(%att, %t) : f32[4,6]
  return %g, %mm
}
"""

EXPECTED = """
graph small(%x: f32[4,8], %kv: f32[6,8]) {
  %w = const f32[8,8]@NK parameter shape-only
  %x.int8 = fake_quant(%x, format='int8') : f32[4,8]
  %h = linear(%x.int8, %w) : f32[4,8]
  %g = linear(%x.int8, %w) : f32[4,8]
  %h.int8 = fake_quant(%h, format='int8') : f32[4,8]
  %kv.int4 = fake_quant(%kv, format='int4') : f32[6,8]
  %att = attention(%h.int8, %kv.int4, %kv.int4, scale=0.25) : f32[4,8]
  %t = permute(%kv, perm=(1, 0)) : f32[8,6]
  %att.int8 = fake_quant(%att, format='int8') : f32[4,8]
  %t.int4 = fake_quant(%t, format='int4') : f32[8,6]
  %mm = matmul(%att.int8, %t.int4) : f32[4,6]
  return %g, %mm
}
"""


def test_every_activation_operand_gets_one_shared_quantiser_kv_ones_at_the_kv_format() -> None:
    after = run(parse_graph(BEFORE), "bitfusion", {"quantize_activations.kv_format": "int4"})
    assert str(after) == EXPECTED.strip()


def test_new_names_do_not_clash() -> None:
    before = parse_graph("""
    graph clash(%x: f32[2,4]) {
      %w = const f32[3,4]@NK parameter shape-only
      %x.int8 = relu(%x) : f32[2,4]
      %y = linear(%x, %w) : f32[2,3]
      return %x.int8, %y
    }""")
    after = run(before, INT8)
    assert after.producer("y").inputs[0] == "x.int8_1" and after.producer("x.int8_1").op is Op.FAKE_QUANT


def _quantised_operands(graph: Graph) -> list[tuple[str, str, str]]:
    """(GEMM, operand, format) for every activation operand; fails on an unquantised one."""
    found = []
    for node in graph.nodes:
        for index, _ in ACTIVATION_OPERANDS.get(node.op, ()):
            name = node.inputs[index]
            if graph.constant(name) is None:
                producer = graph.producer(name)
                assert producer is not None and producer.op is Op.FAKE_QUANT, f"%{node.name} reads %{name} unquantised"
                found.append((node.name, producer.inputs[0], producer.attrs["format"]))
    return found


@pytest.mark.parametrize(("model", "gemms", "quantisers"), [
    ("mlp", 3, 3),  # x, relu, gelu
    # per layer: input norm (q/k/v projections share it), q, k, v, o_proj input, post-attention
    # norm (gate and up share it), down_proj input; then lm_head's final norm
    ("llama-tiny", 2 * 8 + 1, 2 * 7 + 1),
])
def test_zoo_models_get_a_quantiser_per_activation_operand(model: str, gemms: int, quantisers: int) -> None:
    graph = zoo_graph(model)
    after = run(graph, INT8)
    operands = _quantised_operands(after)
    assert sum(node.op in ACTIVATION_OPERANDS for node in after.nodes) == gemms
    assert {fmt for _, _, fmt in operands} == {"int8"}
    fake_quants = [n for n in after.nodes if n.op is Op.FAKE_QUANT]
    assert len(fake_quants) == quantisers == len(after.nodes) - len(graph.nodes)
    assert all(n.attrs["granularity"] == "token" and n.attrs["scale"] is None for n in fake_quants)
    after.verify()
    again = Pipeline.of(["quantize_activations"]).run(after, INT8)
    assert again.graph is after and not again.records[0].changed


def test_static_scales_are_the_absmax_of_the_calibration_values_over_127() -> None:
    graph, inputs = zoo_graph("llama-tiny"), zoo_inputs("llama-tiny")
    after = run(graph, INT8, calibrate=True, inputs=inputs)
    fake_quants = [n for n in after.nodes if n.op is Op.FAKE_QUANT]
    operands = [n.inputs[0] for n in fake_quants]
    values = interpret(graph.replace(outputs=tuple(operands)), inputs)  # independent of calibrate's code path
    for node, value in zip(fake_quants, values, strict=True):
        assert node.attrs["granularity"] == "tensor" and node.attrs["zero_point"] is None
        assert node.attrs["scale"] == pytest.approx(float(np.max(np.abs(value))) / 127, rel=1e-6)
    (plain,) = interpret(graph, inputs)
    for quantised in (after, run(graph, INT8)):  # static, dynamic
        (out,) = interpret(quantised, inputs)
        assert np.linalg.norm(out - plain) / np.linalg.norm(plain) < 0.05


def test_granularity_override_picks_dynamic_even_after_calibration() -> None:
    graph, inputs = zoo_graph("mlp"), zoo_inputs("mlp")
    after = run(graph, INT8, {"quantize_activations.granularity": "token"}, calibrate=True, inputs=inputs)
    assert {n.attrs["granularity"] for n in after.nodes if n.op is Op.FAKE_QUANT} == {"token"}


@pytest.mark.parametrize("target", ["bitmod", "ant", "olive", "fp16_mac", "lut_tensor_core", "cpu", None])
def test_float_activation_targets_and_non_accelerators_keep_the_graph(target: str | None) -> None:
    graph = zoo_graph("mlp")
    assert run(graph, target) is graph


@pytest.mark.parametrize(("target", "options", "message"), [
    ("int8_systolic", {"quantize_activations.format": "int9"},
     r"pass quantize_activations: format: unknown activation format 'int9'"),
    ("int8_systolic", {"quantize_activations.format": "int4"},
     r"format 'int4' is not a format target int8_systolic runs \(int8\)"),
    ("bitfusion", {"quantize_activations.kv_format": "fp8_e4m3"},
     r"kv_format 'fp8_e4m3' is not a format target bitfusion runs \(int8, int4, int2\)"),
    ("int8_systolic", {"quantize_activations.granularity": "tensor"},
     r"granularity 'tensor' needs static ranges: run calibrate"),
])
def test_bad_options_are_one_line_pass_errors(target: str, options: dict, message: str) -> None:
    with pytest.raises(PassError, match=message) as err:
        run(zoo_graph("mlp"), target, options)
    assert "\n" not in str(err.value)


# --- what the simulator makes of it -------------------------------------------------------------------------
def integer_weight_graph(weight_dtype: type) -> Graph:
    """Linear layers with integer weights (what int8_systolic, stripes, loom and bitfusion
    take unquantised), an attention and a matmul of two activations: every operand kind."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("integer_weights")
    x = b.input("x", TensorType((16, 64), F32))

    def linear(name: str, src: str, n: int) -> str:
        return b.op(Op.LINEAR, [src, b.constant(f"{name}.weight", rng.integers(-7, 8, (n, 64)).astype(weight_dtype))],
                    name=name)

    h = b.op(Op.RELU, [linear("fc", x, 64)])
    q, k, v = (linear(name, h, 32) for name in ("q", "k", "v"))
    att = b.op(Op.ATTENTION, [q, k, v], dict(scale=0.125, causal=True))
    mm = b.op(Op.MATMUL, [att, b.op(Op.PERMUTE, [k], dict(perm=(1, 0)))])
    return b.build([mm])


def assert_only_quantisers_added(plain: Graph, quantised: Graph, target: Target) -> None:
    """GEMM problems identical, every other layer's cycles identical, and the total
    is the plain graph's plus the quantisers' cycles."""
    gemms = [p for p in workload(quantised, target) if isinstance(p, GemmProblem)]
    assert gemms == [p for p in workload(plain, target) if isinstance(p, GemmProblem)]
    before, after = simulate(plain, target), simulate(quantised, target)
    added = [layer.result for layer in after.layers if layer.result.op == "fake_quant"]
    assert added
    kept = {layer.result.name: layer.result.cycles for layer in after.layers if layer.result.op != "fake_quant"}
    assert kept == {layer.result.name: layer.result.cycles for layer in before.layers}
    assert after.cycles == before.cycles + sum(r.cycles for r in added)


# (bitfusion has no vector unit, so no graph with a non-GEMM node, quantisers included, runs on it)
@pytest.mark.parametrize(("target", "weight_dtype"), [("int8_systolic", np.int8), ("stripes", np.int16),
                                                      ("loom", np.int16)])
def test_gemm_cycles_are_unchanged_at_the_targets_widest_format(target: str, weight_dtype: type) -> None:
    accel = load_target(target)
    graph = integer_weight_graph(weight_dtype)
    assert_only_quantisers_added(graph, run(graph, accel), accel)


@pytest.mark.parametrize("model", ["mlp", "llama-tiny"])
def test_zoo_cycles_on_int8_systolic_gain_only_the_quantisers(model: str) -> None:
    graph = prepare_weights(zoo_graph(model), INT8)
    assert_only_quantisers_added(graph, run(graph, INT8), INT8)


def test_a_narrower_format_narrows_the_gemms_that_read_it() -> None:
    stripes = load_target("stripes")
    graph = integer_weight_graph(np.int16)
    narrow = run(graph, stripes, {"quantize_activations.format": "int4", "quantize_activations.kv_format": "int8"})
    gemms = {p.name: p for p in workload(narrow, stripes) if isinstance(p, GemmProblem)}
    wide = {p.name: p for p in workload(graph, stripes) if isinstance(p, GemmProblem)}
    for name in ("fc", "q", "k", "v", "attention.qk", "matmul"):
        assert (gemms[name].act_bits, wide[name].act_bits) == (4, 16)
    assert gemms["attention.pv"].act_bits == 16  # the softmax is not quantised
    for name in ("attention.qk", "attention.pv", "matmul"):
        assert (gemms[name].weight_format, gemms[name].weight_bits, wide[name].weight_bits) == ("int8", 8, 16)
    fast, slow = simulate(narrow, stripes), simulate(graph, stripes)
    assert fast.layer("fc").result.cycles < slow.layer("fc").result.cycles  # Stripes is bit-serial in p_a


@pytest.mark.parametrize(("attrs", "ops"), [
    (dict(format="int8", scale=0.1, granularity="tensor"), 3),  # scale, round, clamp
    (dict(format="int8"), 4),  # + the row's absmax
    (dict(format="uint8", scale=0.1, granularity="tensor", zero_point=3), 4),  # + the zero point
    (dict(format="uint8"), 6),  # + zero point, row min and row max
])
def test_quantiser_vector_cost(attrs: dict, ops: int) -> None:
    b = GraphBuilder("fq")
    x = b.input("x", TensorType((4, 32), F32))
    graph = b.build([b.op(Op.FAKE_QUANT, [x], attrs)])
    (problem,) = workload(graph, load_target("stripes"))  # f32 moves at its widest format, i16
    assert isinstance(problem, VectorProblem)
    assert (problem.elements, problem.ops_per_element) == (128, ops)
    assert (problem.input_bytes, problem.output_bytes) == (128 * 2, 128)


def test_minilm_keeps_its_embeddings_with_int8_per_token_activations() -> None:
    graph, _, _ = minilm_reference()
    quantised = run(graph, INT8)
    assert sum(n.op is Op.FAKE_QUANT for n in quantised.nodes) == 6 * 7
    accuracy = embedding_accuracy(quantised)
    assert accuracy.worst > 0.99  # measured: mean 0.9976, worst 0.9962
