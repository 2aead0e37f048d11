"""Layer problems from graphs: shapes against hand counts, MACs against
`ir.stats`, the phase rule, the vector-op table, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from sim_graphs import zoo_graph

from bitsmith.ir.dtypes import F32, I8
from bitsmith.ir.graph import GraphBuilder
from bitsmith.ir.ops import GEMM_LIKE, REDUCTION, VECTOR, Op
from bitsmith.ir.stats import graph_stats
from bitsmith.ir.types import TensorType
from bitsmith.passes.quantize_weights import quantize_weights
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.problem import GemmProblem, VectorProblem
from bitsmith.simulator.workload import MOVES_DATA, OPS_PER_ELEMENT, VIEWS, graph_phase, workload
from bitsmith.targets import load_target

BITMOD = load_target("bitmod")


def by_name(problems: list) -> dict:
    return {p.name: p for p in problems}


def quantised(name: str, phase: str = "prefill", scheme: str = "int8", **options):
    options = options or dict(granularity="channel", group_size=None)
    return quantize_weights(zoo_graph(name, phase), scheme, **options)[0]


def gemm_dims(problem: GemmProblem) -> tuple[int, int, int, int]:
    return problem.M, problem.N, problem.K, problem.batch


def test_llama_tiny_prefill_layers_by_hand() -> None:
    # llama-tiny: hidden 64, 4 query heads and 2 KV heads of 16, MLP 172, vocab 256, 16 tokens.
    problems = by_name(workload(quantised("llama-tiny"), BITMOD))
    layer = "model.layers.0"
    assert gemm_dims(problems[f"{layer}.self_attn.q_proj"]) == (16, 64, 64, 1)
    assert gemm_dims(problems[f"{layer}.self_attn.k_proj"]) == (16, 32, 64, 1)
    assert gemm_dims(problems[f"{layer}.mlp.gate_proj"]) == (16, 172, 64, 1)
    assert gemm_dims(problems[f"{layer}.mlp.down_proj"]) == (16, 64, 172, 1)
    assert gemm_dims(problems["lm_head"]) == (16, 256, 64, 1)
    # attention: two GEMMs per head (K/V expanded to the 4 query heads), batch = B x heads
    qk, pv = problems[f"{layer}.self_attn.qk"], problems[f"{layer}.self_attn.pv"]
    assert gemm_dims(qk) == (16, 16, 16, 4)  # Sq x D against Skv x D
    assert gemm_dims(pv) == (16, 16, 16, 4)  # Sq x Skv against Skv x Dv
    # K and V are read as the KV cache, at the target's KV bits (BitMoD: 8, no scales)
    assert (qk.weight_format, qk.weight_bits, qk.weight_bits_per_element) == ("int8", 8, 8.0)
    softmax = problems[f"{layer}.self_attn.softmax"]
    assert (softmax.elements, softmax.ops_per_element) == (4 * 16 * 16, 7)  # scale, causal mask, softmax
    # weights: int8 with one FP16 scale per output channel: 8 + 16/64 bits
    q_proj = problems[f"{layer}.self_attn.q_proj"]
    assert (q_proj.weight_format, q_proj.weight_bits, q_proj.weight_bits_per_element) == ("int8", 8, 8.25)
    assert q_proj.group_size is None and q_proj.act_bits == 16


def test_llama_tiny_decode_attends_one_token_to_the_cache() -> None:
    graph = quantised("llama-tiny", "decode")
    problems = by_name(workload(graph, BITMOD))
    qk, pv = problems["model.layers.1.self_attn.qk"], problems["model.layers.1.self_attn.pv"]
    assert gemm_dims(qk) == (1, 17, 16, 4)  # 16 cached positions + the new one
    assert gemm_dims(pv) == (1, 16, 17, 4)
    assert not qk.weight_reuse and not problems["lm_head"].weight_reuse
    assert graph_phase(graph) == "decode"
    assert graph_phase(zoo_graph("llama-tiny")) == "prefill"
    assert graph_phase(zoo_graph("mlp")) == "prefill"  # no attention


def test_resnet_convolutions_by_im2col() -> None:
    problems = by_name(workload(quantised("resnet-tiny"), BITMOD))
    assert gemm_dims(problems["stem.0"]) == (32 * 32, 16, 3 * 3 * 3, 1)
    assert gemm_dims(problems["layer2.conv1"]) == (8 * 8, 32, 16 * 3 * 3, 1)
    assert gemm_dims(problems["layer2.downsample.0"]) == (8 * 8, 32, 16, 1)
    assert gemm_dims(problems["fc"]) == (1, 10, 32, 1)
    # a conv's per-channel scales cover one run of C per (output, kh, kw): groups of C along K
    assert problems["layer2.conv1"].group_size == 16
    assert problems["layer2.downsample.0"].group_size is None  # 1x1: one scale per output channel


def test_grouped_convolution_is_one_gemm_per_group() -> None:
    b = GraphBuilder("grouped")
    x = b.input("x", TensorType((2, 4, 5, 5), F32))
    w = b.constant("w", np.ones((6, 2, 3, 3), np.int8))
    out = b.op(Op.CONV2D, [x, w], {"groups": 2})
    problem = by_name(workload(b.build([out]), load_target("int8_systolic")))[out]
    # M = N x H' x W' = 2 x 3 x 3, N = 6/2, K = 4/2 x 3 x 3, batch = groups; i8 weights are the int8 format
    assert gemm_dims(problem) == (18, 3, 18, 2)
    assert (problem.weight_format, problem.weight_bits, problem.act_bits) == ("int8", 8, 8)


@pytest.mark.parametrize(("model", "phase"), [("mlp", "prefill"), ("resnet-tiny", "prefill"),
                                               ("llama-tiny", "prefill"), ("llama-tiny", "decode")])
def test_macs_add_up_to_the_graphs(model: str, phase: str) -> None:
    problems = workload(quantised(model, phase), BITMOD)
    assert sum(p.macs for p in problems if isinstance(p, GemmProblem)) == graph_stats(zoo_graph(model, phase)).macs


def test_group_size_and_stored_bits_from_the_spec() -> None:
    graph = quantised("mlp", scheme="bitmod4", group_size=32)
    problem = by_name(workload(graph, BITMOD))["2"]
    # FP4 elements + an FP16 scale per 32 weights
    assert (problem.weight_format, problem.weight_bits, problem.weight_bits_per_element) == ("bitmod4", 4, 4.5)
    assert problem.group_size == 32


def test_vector_ops_per_element() -> None:
    problems = by_name(workload(quantised("resnet-tiny"), BITMOD))
    assert problems["relu"].ops_per_element == 1
    assert problems["max_pool2d_with_indices"].ops_per_element == 9  # 3x3 window
    assert problems["mean"].ops_per_element == 8 * 8 + 1  # 64 adds, one divide
    assert "view" not in problems  # reshape is a view
    llama = by_name(workload(quantised("llama-tiny"), BITMOD))
    assert llama["model.norm"].ops_per_element == 4  # square, mean, rsqrt scale, x weight
    assert llama["silu"].ops_per_element == 2
    permute = llama["permute"]
    assert permute.ops_per_element == 0 and permute.input_bytes == permute.output_bytes == 16 * 64 * 2


def test_every_vector_op_has_a_cost_rule() -> None:
    computed = REDUCTION | {Op.MAX_POOL2D, Op.AVG_POOL2D, Op.ADAPTIVE_AVG_POOL2D, Op.GELU}
    assert VECTOR - VIEWS - MOVES_DATA - computed <= set(OPS_PER_ELEMENT)
    assert not set(OPS_PER_ELEMENT) & GEMM_LIKE


def test_unsupported_weight_format_is_one_line() -> None:
    with pytest.raises(SimulationError) as err:
        workload(zoo_graph("mlp"), BITMOD)  # f32 weights, never quantised
    assert str(err.value) == ("layer %0 (linear): weight format f32 is not supported by target bitmod "
                              "(weights: int6, int8, bitmod4, bitmod3)")
    with pytest.raises(SimulationError, match=r"^layer %0 \(linear\): weight format int4 is not supported by target fp16_mac \(weights: f16\)$"):
        workload(quantised("mlp", scheme="int4"), load_target("fp16_mac"))


def test_vector_op_without_a_vector_unit_is_one_line() -> None:
    with pytest.raises(SimulationError) as err:
        workload(quantised("resnet-tiny"), load_target("bitfusion"))
    assert str(err.value) == "layer %relu (relu): target bitfusion has no vector unit to run it"
    assert "\n" not in str(err.value)


def test_data_movement_needs_no_vector_unit() -> None:
    b = GraphBuilder("moves")
    x = b.input("x", TensorType((4, 8), F32))
    w = b.constant("w", np.ones((8, 4), np.int8))
    t = b.op(Op.PERMUTE, [x], {"perm": (1, 0)})
    out = b.op(Op.LINEAR, [t, w])
    problems = workload(b.build([out]), load_target("bitfusion"))
    assert isinstance(problems[0], VectorProblem) and problems[0].ops_per_element == 0
    assert problems[0].input_bytes == 4 * 8 * 1  # float activations at bitfusion's widest, int8
    assert problems[1].weight_bits == I8.bits
