"""The canonicalize pass: each rewrite on a Before/Expected pair in the text form,
what it must leave alone, and on the zoo models: outputs unchanged (the
interpreter before and after), idempotent (a second run returns the same object),
never more nodes."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from bitsmith.api import load, lower
from bitsmith.ir import interpret
from bitsmith.ir.graph import Constant, Graph
from bitsmith.ir.parse import parse_graph
from bitsmith.passes import canonicalize as canonicalize_module
from bitsmith.passes.base import PassContext, PassError, get_pass
from bitsmith.passes.canonicalize import canonicalize


def with_data(graph: Graph, data: dict[str, np.ndarray]) -> Graph:
    """`graph` whose constants carry `data[name]`, or seeded random values where not given."""
    rng = np.random.default_rng(0)
    constants = []
    for c in graph.constants:
        if c.data is None:
            dtype = c.type.dtype.to_numpy()
            values = data.get(c.name, rng.standard_normal(c.type.shape))
            c = Constant(c.value, np.asarray(values, dtype=dtype).reshape(c.type.shape), c.origin)
        constants.append(c)
    return graph.replace(constants=tuple(constants))


def text(graph: Graph) -> str:
    """The printed graph less tensor data, as the text form reads back."""
    stripped = [c if c.data is not None and c.data.ndim == 0 else Constant(c.value, None, c.origin)
                for c in graph.constants]
    return str(graph.replace(constants=tuple(stripped)))


def random_inputs(graph: Graph) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal(v.type.shape).astype(v.type.dtype.to_numpy()) if v.type.dtype.is_float
            else rng.integers(0, 4, v.type.shape).astype(v.type.dtype.to_numpy()) for v in graph.inputs]


def canonical(before: str, **data: np.ndarray) -> Graph:
    """Canonicalize `before` (constants given `data`), checking the pass's contract:
    a valid graph, no more nodes, the same outputs, a fixed point."""
    graph = with_data(parse_graph(before), data).verify()
    after = canonicalize(graph).verify()
    assert len(after.nodes) <= len(graph.nodes)
    assert canonicalize(after) is after
    inputs = random_inputs(graph)
    for ours, theirs in zip(interpret(after, inputs), interpret(graph, inputs), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    return after


def test_registered_and_a_canonical_graph_comes_back_as_is() -> None:
    graph = with_data(parse_graph("""
        graph g(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter
          %fc = linear(%x, %w) : f32[2,4]
          %y = relu(%fc) : f32[2,4]
          return %y
        }"""), {})
    assert get_pass("canonicalize").run(graph, PassContext()) is graph


# --- constant folding --------------------------------------------------------------
def test_folds_constant_subgraphs_keeping_names_and_origins() -> None:
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    after = canonical("""
        graph g(%x: f32[2,4]) {
          %w = const f32[3,4] parameter
          %mask = const f32[3] buffer
          %half = const f32[] literal 0.5
          %wt = permute(%w, perm=(1, 0)) : f32[4,3]
          %scaled = mul(%mask, %half) : f32[3]
          %shifted = add(%scaled, %half) : f32[3]
          %mm = matmul(%x, %wt) : f32[2,3]
          %y = add(%mm, %shifted) : f32[2,3]
          return %y
        }""", w=w, mask=np.array([0.0, 1.0, 2.0]))
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[2,4]) {
          %wt = const f32[4,3] parameter
          %shifted = const f32[3] folded
          %mm = matmul(%x, %wt) : f32[2,3]
          %y = add(%mm, %shifted) : f32[2,3]
          return %y
        }"""))
    np.testing.assert_array_equal(after.constant("wt").data, w.T)
    np.testing.assert_array_equal(after.constant("shifted").data, [0.5, 1.0, 1.5])


def test_large_results_are_folded_only_when_no_larger_than_their_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonicalize_module, "MAX_FOLDED_ELEMENTS", 16)
    after = canonical("""
        graph g(%x: f32[8,4]) {
          %c = const f32[8,4] buffer
          %row = const f32[1,4] buffer
          %big = expand(%row, shape=(8, 4)) : f32[8,4]
          %part = slice(%c, axis=0, start=0, end=6) : f32[6,4]
          %a = add(%x, %big) : f32[8,4]
          %b = slice(%a, axis=0, start=2, end=8) : f32[6,4]
          %y = mul(%b, %part) : f32[6,4]
          return %y
        }""")
    # 32 elements from 4 would be stored: kept as an op; 24 from 32 is no larger: folded
    assert [n.name for n in after.nodes] == ["big", "a", "b", "y"]
    assert after.constant("part").type.shape == (6, 4)


def test_quantised_and_shape_only_constants_are_not_folded() -> None:
    graph = parse_graph("""
        graph g(%x: f32[2,4]) {
          %w = const f32[3,4] parameter shape-only
          %wt = permute(%w, perm=(1, 0)) : f32[4,3]
          %y = matmul(%x, %wt) : f32[2,3]
          return %y
        }""")
    assert canonicalize(graph) is graph


# --- no-ops ---------------------------------------------------------------------------------
NO_OPS = {
    "reshape": "reshape(%x, shape=(2, 6)) : f32[2,6]",
    "expand": "expand(%x, shape=(2, 6)) : f32[2,6]",
    "permute": "permute(%x, perm=(0, 1)) : f32[2,6]",
    "cast": "cast(%x, to='f32') : f32[2,6]",
    "slice": "slice(%x, axis=1, start=0, end=9223372036854775807) : f32[2,6]",
    "slice_negative": "slice(%x, axis=-1, start=-6, end=6) : f32[2,6]",
    "concat": "concat(%x, axis=0) : f32[2,6]",
    "clamp": "clamp(%x) : f32[2,6]",
    "add_zero": "add(%x, %zero) : f32[2,6]",
    "zero_add": "add(%zero, %x) : f32[2,6]",
    "sub_zero": "sub(%x, %zero) : f32[2,6]",
    "mul_one": "mul(%x, %one) : f32[2,6]",
    "one_mul": "mul(%one, %x) : f32[2,6]",
    "div_one": "div(%x, %one) : f32[2,6]",
}
KEPT = {
    "reshape": "reshape(%x, shape=(12,)) : f32[12]",
    "expand_up": "expand(%x, shape=(3, 2, 6)) : f32[3,2,6]",
    "permute": "permute(%x, perm=(1, 0)) : f32[6,2]",
    "cast": "cast(%x, to='f16') : f16[2,6]",
    "slice_part": "slice(%x, axis=1, start=1, end=6) : f32[2,5]",
    "slice_step": "slice(%x, axis=0, start=0, end=2, step=2) : f32[1,6]",
    "clamp": "clamp(%x, min=0.0) : f32[2,6]",
    "zero_sub": "sub(%zero, %x) : f32[2,6]",
    "one_div": "div(%one, %x) : f32[2,6]",
    "add_two": "add(%x, %two) : f32[2,6]",
    "add_zero_broadcast_up": "add(%x, %zeros) : f32[3,2,6]",
    "mul_one_promotes": "mul(%x, %one64) : f64[2,6]",
}


def one_node(expression: str) -> str:
    result = expression.rsplit(" : ", 1)[1]
    return f"""
        graph g(%x: f32[2,6]) {{
          %zero = const f32[] literal 0.0
          %one = const f32[] literal 1.0
          %two = const f32[] literal 2.0
          %one64 = const f64[] literal 1.0
          %zeros = const f32[3,1,1] buffer
          %y = {expression}
          %z = neg(%y) : {result}
          return %z
        }}"""


@pytest.mark.parametrize("expression", NO_OPS.values(), ids=NO_OPS.keys())
def test_drops_no_ops(expression: str) -> None:
    after = canonical(one_node(expression), zeros=np.zeros((3, 1, 1)))
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[2,6]) {
          %z = neg(%x) : f32[2,6]
          return %z
        }"""))


@pytest.mark.parametrize("expression", KEPT.values(), ids=KEPT.keys())
def test_keeps_what_computes_something(expression: str) -> None:
    after = canonical(one_node(expression), zeros=np.zeros((3, 1, 1)))
    assert [n.name for n in after.nodes] == ["y", "z"]


def test_a_dropped_output_is_renamed_to_its_input() -> None:
    after = canonical("""
        graph g(%x: f32[2,6]) {
          %r = relu(%x) : f32[2,6]
          %y = reshape(%r, shape=(2, 6)) : f32[2,6]
          return %y
        }""")
    assert after.outputs == ("r",) and [n.name for n in after.nodes] == ["r"]


def test_composes_reshape_and_permute_chains() -> None:
    after = canonical("""
        graph g(%x: f32[2,3,4]) {
          %a = reshape(%x, shape=(6, 4)) : f32[6,4]
          %b = reshape(%a, shape=(24,)) : f32[24]
          %p = permute(%x, perm=(1, 2, 0)) : f32[3,4,2]
          %q = permute(%p, perm=(2, 0, 1)) : f32[2,3,4]
          %s = permute(%x, perm=(2, 0, 1)) : f32[4,2,3]
          %t = permute(%s, perm=(0, 2, 1)) : f32[4,3,2]
          %back = reshape(%a, shape=(2, 3, 4)) : f32[2,3,4]
          %sum = add(%q, %back) : f32[2,3,4]
          return %b, %t, %sum
        }""")
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[2,3,4]) {
          %b = reshape(%x, shape=(24,)) : f32[24]
          %t = permute(%x, perm=(2, 1, 0)) : f32[4,3,2]
          %sum = add(%x, %x) : f32[2,3,4]
          return %b, %t, %sum
        }"""))


def test_a_composed_chain_keeps_an_inner_node_others_read() -> None:
    after = canonical("""
        graph g(%x: f32[2,3,4]) {
          %a = reshape(%x, shape=(6, 4)) : f32[6,4]
          %b = reshape(%a, shape=(24,)) : f32[24]
          %c = relu(%a) : f32[6,4]
          return %b, %c
        }""")
    assert [(n.name, n.inputs) for n in after.nodes] == [("a", ("x",)), ("b", ("x",)), ("c", ("a",))]


# --- bias merging ----------------------------------------------------------------------------
def test_merges_a_bias_add_into_the_linear() -> None:
    after = canonical("""
        graph g(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter
          %b = const f32[4] parameter
          %fc = linear(%x, %w) : f32[2,4]
          %y = add(%fc, %b) : f32[2,4]
          %z = relu(%y) : f32[2,4]
          return %z
        }""")
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter
          %b = const f32[4] parameter
          %fc = linear(%x, %w, %b) : f32[2,4]
          %z = relu(%fc) : f32[2,4]
          return %z
        }"""))


def test_merges_a_broadcast_bias_as_a_vector() -> None:
    after = canonical("""
        graph g(%x: f32[3,2,8]) {
          %w = const f32[4,8]@NK parameter
          %b = const f32[1,1,4] parameter
          %fc = linear(%x, %w) : f32[3,2,4]
          %y = add(%b, %fc) : f32[3,2,4]
          return %y
        }""", b=np.array([1.0, 2.0, 3.0, 4.0]))
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[3,2,8]) {
          %w = const f32[4,8]@NK parameter
          %fc.bias = const f32[4] parameter
          %fc = linear(%x, %w, %fc.bias) : f32[3,2,4]
          return %fc
        }"""))
    np.testing.assert_array_equal(after.constant("fc.bias").data, [1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("case", ["shared", "output", "has_bias", "per_row", "broadcast_up", "activation"])
def test_leaves_adds_that_are_not_a_bias(case: str) -> None:
    fc, bias, extra, outputs = "linear(%x, %w)", "%b", "", "%y"
    bias_type = "f32[4]"
    if case == "shared":
        extra, outputs = "%r = relu(%fc) : f32[2,4]", "%y, %r"
    elif case == "output":
        outputs = "%y, %fc"
    elif case == "has_bias":
        fc = "linear(%x, %w, %b)"
    elif case == "per_row":
        bias_type = "f32[2,4]"
    elif case == "broadcast_up":
        bias_type = "f32[1,1,4]"
    elif case == "activation":
        bias = "%x2"
    y_type = "f32[1,2,4]" if case == "broadcast_up" else "f32[2,4]"
    graph = f"""
        graph g(%x: f32[2,8], %x2: f32[4]) {{
          %w = const f32[4,8]@NK parameter
          %b = const {bias_type} parameter
          %fc = {fc} : f32[2,4]
          %y = add(%fc, {bias}) : {y_type}
          {extra}
          return {outputs}
        }}"""
    after = canonical(graph)
    assert [n.name for n in after.nodes if n.op.value == "add"] == ["y"]


# --- dead code ---------------------------------------------------------------------------------
def test_removes_dead_nodes_and_unused_constants() -> None:
    after = canonical("""
        graph g(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter
          %unused = const f32[4] parameter
          %fc = linear(%x, %w) : f32[2,4]
          %dead = relu(%fc) : f32[2,4]
          %y = neg(%x) : f32[2,8]
          return %y
        }""")
    assert text(after) == str(parse_graph("""
        graph g(%x: f32[2,8]) {
          %y = neg(%x) : f32[2,8]
          return %y
        }"""))


def test_refuses_a_graph_already_fused() -> None:
    graph = parse_graph("""
        graph g(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter shape-only
          %fc = linear(%x, %w, epilogue=('y',)) : f32[2,4]
          %y = relu(%fc) : f32[2,4]
          return %y
        }""")
    with pytest.raises(PassError, match="node %fc already has an epilogue; canonicalize runs before fuse_epilogue"):
        canonicalize(graph)


# --- zoo models --------------------------------------------------------------------------------
@cache
def zoo(name: str) -> tuple[Graph, list[np.ndarray]]:
    model = load(name)
    return lower(model), [t.numpy() for t in model.example_inputs]


@pytest.mark.parametrize("name", ["mlp", "resnet-tiny", "llama-tiny", "minilm"])
def test_zoo_outputs_unchanged_idempotent_and_never_larger(name: str) -> None:
    graph, inputs = zoo(name)
    after = canonicalize(graph).verify()
    assert canonicalize(after) is after
    assert len(after.nodes) <= len(graph.nodes)
    for ours, theirs in zip(interpret(after, inputs), interpret(graph, inputs), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
