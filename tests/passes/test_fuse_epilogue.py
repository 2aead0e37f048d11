"""The fuse_epilogue pass: which chains it fuses (and where it stops), the rules the
validator enforces on any epilogue, the annotation through the text form and JSON,
the target's `vector_unit.epilogue`, and the simulated cycles of a fused chain
against the closed form of engines/vector.py (the GEMM's own cycles by hand, as in
tests/simulator/test_engines.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bitsmith.ir import interpret
from bitsmith.ir.errors import VerifyError
from bitsmith.ir.graph import Constant, Graph
from bitsmith.ir.parse import parse_graph
from bitsmith.passes.base import PassContext, get_pass
from bitsmith.passes.fuse_epilogue import fuse_epilogues
from bitsmith.simulator.simulate import simulate
from bitsmith.targets import TargetError, load_target
from bitsmith.targets.accelerator import Accelerator

TPU = load_target("int8_systolic")
PAPER_TARGETS = ("bitmod", "ant", "olive", "stripes", "loom", "bitfusion", "lut_tensor_core", "fp16_mac",
                 "bitmod_lossy")


def fused(text: str, target: Accelerator = TPU) -> Graph:
    """The pass's result on `text` (valid before and after)."""
    graph = parse_graph(text).verify()
    return get_pass("fuse_epilogue").run(graph, PassContext(target=target)).verify()


def epilogues(graph: Graph) -> dict[str, tuple[str, ...]]:
    return {n.name: n.attrs["epilogue"] for n in graph.nodes if n.attrs.get("epilogue")}


BLOCK = """
    graph block(%x: f32[4,8], %res: f32[4,16]) {
      %w = const i8[16,8]@NK parameter shape-only
      %fc = linear(%x, %w) : f32[4,16]
      %sum = add(%fc, %res) : f32[4,16]
      %act = gelu(%sum) : f32[4,16]
      %out = neg(%act) : f32[4,16]
      return %out
    }"""


# --- chains ---------------------------------------------------------------------------------------
def test_fuses_a_residual_add_and_activation() -> None:
    graph = fused(BLOCK)
    assert epilogues(graph) == {"fc": ("sum", "act")}  # neg is not in int8_systolic's list
    assert "%fc = linear(%x, %w, epilogue=('sum', 'act')) : f32[4,16]" in str(graph)
    assert fuse_epilogues(graph, frozenset()) == parse_graph(BLOCK)  # recomputed: nothing fusable, none kept


def test_a_second_run_returns_the_same_graph() -> None:
    graph = fused(BLOCK)
    assert get_pass("fuse_epilogue").run(graph, PassContext(target=TPU)) is graph


def test_a_value_with_two_users_ends_the_chain() -> None:
    graph = fused("""
        graph g(%x: f32[4,8], %res: f32[4,16]) {
          %w = const i8[16,8]@NK parameter shape-only
          %fc = linear(%x, %w) : f32[4,16]
          %sum = add(%fc, %res) : f32[4,16]
          %act = relu(%sum) : f32[4,16]
          %other = tanh(%sum) : f32[4,16]
          %out = add(%act, %other) : f32[4,16]
          return %out
        }""")
    assert epilogues(graph) == {"fc": ("sum",)}  # sum is read twice: it is the last value fused


def test_a_graph_output_ends_the_chain() -> None:
    graph = fused("""
        graph g(%x: f32[4,8]) {
          %w = const i8[16,8]@NK parameter shape-only
          %fc = linear(%x, %w) : f32[4,16]
          %act = relu(%fc) : f32[4,16]
          %out = tanh(%act) : f32[4,16]
          return %out, %act
        }""")
    assert epilogues(graph) == {"fc": ("act",)}


def test_broadcasting_up_is_not_fused() -> None:
    graph = fused("""
        graph g(%x: f32[4,8], %y: f32[3,4,16]) {
          %w = const i8[16,8]@NK parameter shape-only
          %fc = linear(%x, %w) : f32[4,16]
          %sum = add(%fc, %y) : f32[3,4,16]
          return %sum
        }""")
    assert epilogues(graph) == {}


def test_operands_computed_after_the_gemm_are_not_fused() -> None:
    graph = fused("""
        graph g(%x: f32[4,8], %y: f32[4,16]) {
          %w = const i8[16,8]@NK parameter shape-only
          %fc = linear(%x, %w) : f32[4,16]
          %late = relu(%y) : f32[4,16]
          %sum = add(%fc, %late) : f32[4,16]
          return %sum
        }""")
    assert epilogues(graph) == {}


def test_reading_the_chain_value_twice_is_not_fused() -> None:
    graph = fused("""
        graph g(%x: f32[4,8]) {
          %w = const i8[16,8]@NK parameter shape-only
          %fc = linear(%x, %w) : f32[4,16]
          %sq = mul(%fc, %fc) : f32[4,16]
          return %sq
        }""")
    assert epilogues(graph) == {}


def test_only_the_ops_the_target_lists_are_fused() -> None:
    relu_only = TPU.override({"vector_unit.epilogue": ["relu"]})
    assert epilogues(fused(BLOCK, relu_only)) == {}  # add comes first: the chain never starts
    graph = fused(BLOCK.replace("add(%fc, %res)", "relu(%fc)"), relu_only)
    assert epilogues(graph) == {"fc": ("sum",)}


@pytest.mark.parametrize("target", [*PAPER_TARGETS, "cpu"])
def test_targets_without_an_epilogue_leave_the_graph_as_it_is(target: str) -> None:
    graph = parse_graph(BLOCK)
    assert get_pass("fuse_epilogue").run(graph, PassContext(target=load_target(target))) is graph
    assert get_pass("fuse_epilogue").run(graph, PassContext()) is graph


def test_conv_and_matmul_fuse_too() -> None:
    graph = fused("""
        graph g(%x: f32[1,2,6,6], %a: f32[3,4,8], %b: f32[3,8,5]) {
          %w = const i8[4,2,3,3]@OIHW parameter shape-only
          %conv = conv2d(%x, %w) : f32[1,4,4,4]
          %r = relu(%conv) : f32[1,4,4,4]
          %mm = matmul(%a, %b) : f32[3,4,5]
          %s = sigmoid(%mm) : f32[3,4,5]
          return %r, %s
        }""")
    assert epilogues(graph) == {"conv": ("r",), "mm": ("s",)}


# --- the validator ---------------------------------------------------------------------------------
def with_epilogue(body: str, epilogue: str) -> Graph:
    return parse_graph(f"""
        graph g(%x: f32[4,8], %y: f32[4,16]) {{
          %w = const i8[16,8]@NK parameter shape-only
          %c = const f32[3,1,16] buffer shape-only
          %early = relu(%y) : f32[4,16]
          %fc = linear(%x, %w, epilogue={epilogue}) : f32[4,16]
          {body}
        }}""")


@pytest.mark.parametrize(("body", "epilogue", "message"), [
    ("%a = relu(%fc) : f32[4,16]\nreturn %a", "('nope',)", "epilogue names %nope, which is not a node after it"),
    ("%a = relu(%fc) : f32[4,16]\nreturn %a, %early", "('early',)", "names %early, which is not a node after it"),
    ("%a = softmax(%fc, axis=1) : f32[4,16]\nreturn %a", "('a',)", "epilogue node %a is softmax, not an elementwise"),
    ("%a = relu(%y) : f32[4,16]\n%b = add(%a, %fc) : f32[4,16]\nreturn %b", "('a',)",
     "epilogue node %a must read %fc as exactly one operand"),
    ("%a = mul(%fc, %fc) : f32[4,16]\nreturn %a", "('a',)", "epilogue node %a must read %fc as exactly one operand"),
    ("%a = relu(%fc) : f32[4,16]\n%b = neg(%fc) : f32[4,16]\nreturn %a, %b", "('a',)",
     "epilogue value %fc must have one user (%a) and not be a graph output"),
    ("%a = relu(%fc) : f32[4,16]\nreturn %a, %fc", "('a',)", "epilogue value %fc must have one user"),
    ("%a = add(%fc, %c) : f32[3,4,16]\nreturn %a", "('a',)", "epilogue node %a has 192 elements, the GEMM's output 64"),
    ("%late = neg(%y) : f32[4,16]\n%a = add(%fc, %late) : f32[4,16]\nreturn %a", "('a',)",
     "epilogue node %a reads %late, which is computed after the GEMM"),
    ("%a = relu(%fc) : f32[4,16]\nreturn %a", "(1,)", "epilogue must be a tuple of node names, got (1,)"),
    ("%a = relu(%fc) : f32[4,16]\n%b = relu(%a) : f32[4,16]\nreturn %b", "('b', 'a')",
     "epilogue node %b must read %fc as exactly one operand"),
], ids=["missing", "before", "not_elementwise", "not_reading", "reads_twice", "two_users", "output", "broadcast",
        "late_operand", "not_names", "out_of_order"])
def test_verify_rejects_malformed_epilogues(body: str, epilogue: str, message: str) -> None:
    graph = with_epilogue(body, epilogue)
    with pytest.raises(VerifyError, match=r"^node %fc \(linear\): .*" + re.escape(message)):
        graph.verify()


# --- text form and JSON -----------------------------------------------------------------------------
def test_round_trips_through_text_and_json(tmp_path: Path) -> None:
    graph = fused(BLOCK)
    assert parse_graph(str(graph)) == graph and str(parse_graph(str(graph))) == str(graph)
    rng = np.random.default_rng(0)
    data = graph.replace(constants=tuple(Constant(c.value, rng.integers(-8, 8, c.type.shape).astype(np.int8), c.origin)
                                         for c in graph.constants))
    data.save(tmp_path / "g.json")
    assert Graph.load(tmp_path / "g.json") == data


# --- the target ---------------------------------------------------------------------------------------
def test_only_int8_systolic_ships_an_epilogue() -> None:
    assert TPU.vector_unit.epilogue == ["add", "sub", "mul", "relu", "gelu", "silu", "tanh", "sigmoid", "clamp"]
    for name in PAPER_TARGETS:
        unit = load_target(name).vector_unit
        assert unit is None or unit.epilogue is None, name


def test_target_rejects_an_op_that_is_not_elementwise() -> None:
    with pytest.raises(TargetError, match=r"vector_unit\.epilogue\[1\]: must be an elementwise op .* got 'softmax'"):
        TPU.override({"vector_unit.epilogue": ["relu", "softmax"]})
    with pytest.raises(TargetError, match="vector_unit.epilogue: lists relu more than once"):
        TPU.override({"vector_unit.epilogue": ["relu", "relu"]})


def test_targets_show_lists_the_epilogue(cli) -> None:
    code, out, _ = cli("targets", "show", "int8_systolic")
    assert code == 0 and "add, sub, mul, relu, gelu, silu, tanh, sigmoid, clamp" in out


# --- simulated cycles ---------------------------------------------------------------------------------
# int8_systolic: 256 x 256 weight-stationary, B = 34 GB/s / 700 MHz = 48.571 B/cycle; f32 activations
# move at the target's int8. The linear M=64, N=256, K=128 (i8 weights) is one fold, ur = K = 128,
# uc = N = 256: 128 + 127 + 255 + 64 tokens = 574. Load 128*256 + 64*128 = 40960 B -> ceil(843.3) = 844;
# store 64*256 = 16384 B -> ceil(337.3) = 338. G = 844 + 574 + 338 = 1756.
G = 1756
LAYER = """
    graph layer(%x: f32[64,128], %res: f32[64,256]) {
      %w = const i8[256,128]@NK parameter
      %fc = linear(%x, %w) : f32[64,256]
      %sum = add(%fc, %res) : f32[64,256]
      %act = gelu(%sum) : f32[64,256]
      return %act
    }"""


def layer_graph(text: str) -> Graph:
    graph = parse_graph(text)
    rng = np.random.default_rng(0)
    weights = tuple(Constant(c.value, rng.integers(-8, 8, c.type.shape).astype(np.int8), c.origin)
                    for c in graph.constants)
    return graph.replace(constants=weights).verify()


def cycles_both_engines(graph: Graph, target: Accelerator) -> int:
    fast = simulate(graph, target)
    trace = simulate(graph, target, engine="trace")
    assert [layer.result for layer in trace.layers] == [layer.result for layer in fast.layers]
    assert fast.layer("fc").result.cycles == G
    return fast.cycles


def test_a_fused_activation_hides_behind_the_gemm() -> None:
    plain = layer_graph("""
        graph layer(%x: f32[64,128]) {
          %w = const i8[256,128]@NK parameter
          %fc = linear(%x, %w) : f32[64,256]
          %act = relu(%fc) : f32[64,256]
          return %act
        }""")
    fused_graph = get_pass("fuse_epilogue").run(plain, PassContext(target=TPU))
    # relu: 16384 elements / 256 ops per cycle = 64 cycles. Unfused it also reads and writes
    # 16384 B each: ceil(32768 / 48.571) = 675 > 64. Fused: no bytes, 64 <= G cycles hidden.
    assert cycles_both_engines(plain, TPU) == G + 675
    assert cycles_both_engines(fused_graph, TPU) == G
    # One vector lane: relu takes 16384 cycles; fused, G of them run under the GEMM.
    narrow = TPU.override({"vector_unit.lanes": 1})
    assert cycles_both_engines(plain, narrow) == G + 16384
    assert cycles_both_engines(fused_graph, narrow) == 16384
    inputs = [np.random.default_rng(1).standard_normal((64, 128)).astype(np.float32)]
    np.testing.assert_array_equal(interpret(fused_graph, inputs)[0], interpret(plain, inputs)[0])


def test_a_fused_chain_shares_the_gemm_cycles_once() -> None:
    plain = layer_graph(LAYER)
    fused_graph = get_pass("fuse_epilogue").run(plain, PassContext(target=TPU))
    assert epilogues(fused_graph) == {"fc": ("sum", "act")}
    # Unfused: add reads 2 x 16384 B and writes 16384: max(64, ceil(49152 / 48.571) = 1012);
    # gelu (5 ops per element) max(320, 675). Fused: add reads the residual only, 338 cycles,
    # then gelu 320: 658 <= G, all hidden.
    assert cycles_both_engines(plain, TPU) == G + 1012 + 675
    assert cycles_both_engines(fused_graph, TPU) == G
    # One lane: add 16384 cycles, G of them hidden; gelu 81920 cycles, none left to hide behind.
    narrow = TPU.override({"vector_unit.lanes": 1})
    assert cycles_both_engines(plain, narrow) == G + 16384 + 81920
    report = simulate(fused_graph, narrow)
    assert [report.layer(n).result.hidden_cycles for n in ("sum", "act")] == [G, 0]
    assert report.cycles == 16384 + 81920
    assert report.dram_bytes == simulate(plain, narrow).dram_bytes - 16384 * 4  # sum: in+out, act: in+out
