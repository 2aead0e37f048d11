"""The tiling pass: searched tiles are legal, never slower than the simulator's
default mapping on any layer, recorded on the nodes, kept through save/load and
the text form, and used by `simulate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsmith.api import lower
from bitsmith.compiler import prepare_weights
from bitsmith.ir import Graph
from bitsmith.ir.errors import VerifyError
from bitsmith.ir.parse import parse_graph
from bitsmith.passes.base import PassError
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.tiling import tile_graph
from bitsmith.simulator.simulate import simulate
from bitsmith.targets import load_target


@pytest.fixture(scope="module")
def bitmod():
    return load_target("bitmod")


@pytest.mark.parametrize(("model", "scheme", "group"), [("llama-tiny", "int8", 4), ("minilm", "int6", 128)])
def test_searched_tiles_are_never_slower_than_the_default(bitmod, model: str, scheme: str, group: int) -> None:
    graph = prepare_weights(lower(model), bitmod, scheme, group)
    tiled, choices = tile_graph(graph, bitmod)
    assert choices, "every weight GEMM is tiled"
    for name, choice in choices.items():
        assert choice.result.cycles <= choice.default.cycles, name
        node = next(n for n in tiled.nodes if n.name == name)
        m = choice.mapping
        assert node.attrs["tile"] == (m.tile_m, m.tile_n, m.tile_k) and node.attrs["loop_order"] == m.order
    report = simulate(tiled, bitmod)
    for name, choice in choices.items():
        layer = report.layer(name)
        assert layer.result.cycles == choice.result.cycles and layer.result.mapping == str(choice.mapping)
    if model == "minilm":  # the search finds better tiles than the default rule here
        assert sum(c.result.cycles for c in choices.values()) < sum(c.default.cycles for c in choices.values())


def test_tiles_survive_save_load_and_the_text_form(bitmod, tmp_path: Path) -> None:
    graph = prepare_weights(lower("mlp"), bitmod, "int8", 32)
    tiled = Pipeline.of(["tiling"]).run(graph, bitmod).graph
    tiled.save(str(tmp_path / "t.json"))
    again = Graph.load(str(tmp_path / "t.json"))
    assert [n.attrs for n in again.nodes] == [n.attrs for n in tiled.nodes]
    text = str(tiled)
    assert "tile=(" in text and "loop_order='" in text
    assert [n.attrs for n in parse_graph(text).nodes] == [n.attrs for n in tiled.nodes]


def test_bad_tiles_are_rejected(bitmod) -> None:
    graph = prepare_weights(lower("mlp"), bitmod, "int8", 32)
    node = graph.nodes[0]
    for attrs, message in (({"tile": (32, 0, 64)}, "tile must be"), ({"loop_order": "mnm"}, "loop_order must be")):
        broken = graph.replace(nodes=(type(node)(node.op, node.inputs, node.output, {**node.attrs, **attrs}),
                                      *graph.nodes[1:]))
        with pytest.raises(VerifyError, match=message):
            broken.verify()


def test_tiling_needs_an_accelerator() -> None:
    with pytest.raises(PassError, match="needs an accelerator target"):
        Pipeline.of(["tiling"]).run(lower("mlp"), load_target("cpu"))
