"""The text form reads back: parsing a printed graph gives the graph back, less
the tensor data the text form does not carry (constants return shape-only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import graphs

from bitsmith.ir import GraphFormatError
from bitsmith.ir.graph import Constant, Graph
from bitsmith.ir.parse import parse_graph


def without_tensor_data(graph: Graph) -> Graph:
    """What the text form keeps: scalar literals with data, other constants shape-only."""
    keep = [c if c.data is not None and c.data.ndim == 0 else Constant(c.value, None, c.origin)
            for c in graph.constants]
    return graph.replace(constants=tuple(keep))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_print_parse_print_is_the_identity(graph: Graph) -> None:
    expected = without_tensor_data(graph)
    parsed = parse_graph(str(graph))
    assert parsed == expected
    assert str(parsed) == str(expected)
    parsed.verify()


def test_parses_a_hand_written_graph() -> None:
    graph = parse_graph("""
        graph tiny(%x: f32[2,8]) {
          %w = const f32[4,8]@NK parameter shape-only
          %c = const f32[] literal 0.5
          %fc = linear(%x, %w) : f32[2,4]
          %scaled = mul(%fc, %c) : f32[2,4]
          %clamped = clamp(%scaled, min=-inf) : f32[2,4]
          return %clamped
        }
    """).verify()
    assert graph.constant("w").shape_only and graph.constant("w").type.layout == "NK"
    assert graph.constant("c").data == np.float32(0.5)
    assert graph.nodes[2].attrs == {"min": float("-inf"), "max": None}


@pytest.mark.parametrize("text, where", [
    ("graph g(%x: f32[2]) {\n  %y = frobnicate(%x) : f32[2]\n  return %y\n}", "line 2: unknown op 'frobnicate'"),
    ("graph g(%x: q7[2]) {\n  return %x\n}", "line 1: unknown dtype 'q7'"),
    ("graph g(%x: f32[2]) {\n  %y = relu(%x, bogus=1) : f32[2]\n  return %y\n}", "line 2: .*unknown attribute 'bogus'"),
    ("graph g(%x: f32[2]) {\n  %y = relu(%x) f32[2]\n  return %y\n}", "line 2: cannot read"),
    ("graph g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n}", "no 'return' line"),
])
def test_bad_text_names_the_line(text: str, where: str) -> None:
    with pytest.raises(GraphFormatError, match=where):
        parse_graph(text)


def test_parses_a_lowered_model_back() -> None:
    from bitsmith.api import lower

    graph = lower("llama-tiny")
    parsed = parse_graph(str(graph)).verify()
    assert parsed == without_tensor_data(graph)
