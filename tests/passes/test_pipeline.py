"""Pass infrastructure: registration, options, pipelines from Python and YAML,
verification after every pass, timing records and IR dumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitsmith.ir import Graph, GraphBuilder, Op
from bitsmith.ir.dtypes import F32
from bitsmith.ir.parse import parse_graph
from bitsmith.ir.types import TensorType
from bitsmith.passes.base import PassContext, PassError, PassOptions, get_pass, graph_pass, pass_names
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.pipelines import default_pipeline
from bitsmith.targets import load_target


def _graph() -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("two_layers")
    x = b.input("x", TensorType((2, 256), F32))
    h = b.op(Op.LINEAR, [x, b.constant("fc1.weight", rng.standard_normal((128, 256)).astype(np.float32))], name="fc1")
    y = b.op(Op.LINEAR, [h, b.constant("fc2.weight", rng.standard_normal((64, 128)).astype(np.float32))], name="fc2")
    return b.build([y])


class _Scale(PassOptions):
    factor: float = 2.0


@graph_pass("test_scale_weights", options=_Scale)
def _scale_weights(graph: Graph, ctx: PassContext) -> Graph:
    """Multiply every weight by a factor (a test pass)."""
    from bitsmith.ir import Constant

    factor = ctx.options(_Scale).factor
    return graph.replace(constants=[Constant(c.value, c.data * np.float32(factor), c.origin) for c in graph.constants])


@graph_pass("test_needs_scale", requires=("test_scale_weights",))
def _needs_scale(graph: Graph, ctx: PassContext) -> Graph:
    """Changes nothing, but must run after test_scale_weights."""
    return graph


@graph_pass("test_breaks_graph")
def _breaks(graph: Graph, ctx: PassContext) -> Graph:
    """Drops the graph's nodes but keeps its outputs: invalid."""
    return graph.replace(nodes=())


def test_pipeline_runs_passes_in_order_with_their_options_and_records_them() -> None:
    graph = _graph()
    pipeline = Pipeline.of(["test_scale_weights", "test_needs_scale", "quantize_weights"],
                           {"test_scale_weights.factor": 0.5, "quantize_weights.scheme": "int8_sym"})
    result = pipeline.run(graph)
    assert [r.name for r in result.records] == ["test_scale_weights", "test_needs_scale", "quantize_weights"]
    assert [r.changed for r in result.records] == [True, False, True]
    w = result.graph.constant("fc1.weight")
    assert w.quant.scheme == "int8_sym" and w.quant.group_size == 128
    half = graph.constant("fc1.weight").data * np.float32(0.5)
    np.testing.assert_allclose(w.data, half, atol=np.abs(half).max() / 127)  # int8 of the halved weight
    assert all(r.seconds >= 0 for r in result.records)


def test_dump_ir_writes_the_text_form_after_every_pass(tmp_path: Path) -> None:
    Pipeline.of(["quantize_weights"], {"quantize_weights.scheme": "bitmod4"}).run(_graph(), dump_ir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000_input.txt", "001_quantize_weights.txt"]
    after = parse_graph((tmp_path / "001_quantize_weights.txt").read_text())
    assert after.constant("fc1.weight").quant.scheme == "bitmod4"


def test_default_accelerator_pipeline_uses_the_targets_format() -> None:
    target = load_target("bitmod")
    result = default_pipeline(target).run(_graph(), target)
    spec = result.graph.constant("fc2.weight").quant
    assert (spec.scheme, spec.group_size) == (target.formats.default_weights, target.formats.group_size)


def test_a_pass_that_breaks_the_graph_is_named() -> None:
    with pytest.raises(PassError, match="pass test_breaks_graph produced an invalid graph: .*output %fc2"):
        Pipeline.of(["test_breaks_graph"]).run(_graph())


def test_quantize_without_scheme_or_target_is_an_error() -> None:
    with pytest.raises(PassError, match="no scheme set"):
        Pipeline.of(["quantize_weights"]).run(_graph())


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_pipeline_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "passes:\n  - test_scale_weights\n  - quantize_weights\noptions:\n"
                            "  test_scale_weights.factor: 3.0\n  quantize_weights.scheme: nf4\n")
    pipeline = Pipeline.from_yaml(path)
    assert pipeline.names == ("test_scale_weights", "quantize_weights")
    result = pipeline.run(_graph())
    assert result.graph.constant("fc1.weight").quant.scheme == "nf4"


@pytest.mark.parametrize(("text", "message"), [
    ("passes:\n  - quantize_weights\n  - fold_everything\n",
     r"pipeline.yaml:3: unknown pass 'fold_everything'; valid: .*quantize_weights"),
    ("passes:\n  - test_needs_scale\n", r"pipeline.yaml:2: pass test_needs_scale requires test_scale_weights"),
    ("passes: [quantize_weights]\noptions:\n  quantize_weights.group_size: many\n",
     r"pipeline.yaml:3: quantize_weights.group_size: Input should be a valid integer"),
    ("passes: [quantize_weights]\noptions:\n  quantize_weights.colour: red\n",
     r"pipeline.yaml:3: quantize_weights.colour: Extra inputs are not permitted"),
    ("passes: [quantize_weights]\noptions:\n  tiling.max_tile: 4\n",
     r"pipeline.yaml:3: option 'tiling.max_tile' is for pass 'tiling', which the pipeline does not run"),
    ("passes: [quantize_weights]\nextra: 1\n", r"pipeline.yaml:2: unknown key 'extra'"),
    ("passes: quantize_weights\n", r"pipeline.yaml:1: passes: must be a list of pass names"),
    ("passes: [a\n", r"pipeline.yaml.*invalid YAML"),
    ("", r"pipeline.yaml: empty file; expected a mapping of passes and options"),
])
def test_bad_pipeline_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PassError, match=message) as info:
        Pipeline.from_yaml(_write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_registry_lists_passes_and_refuses_twins() -> None:
    assert "quantize_weights" in pass_names()
    assert get_pass("quantize_weights").summary.startswith("Quantise every GEMM weight")
    with pytest.raises(ValueError, match="registered twice"):
        graph_pass("quantize_weights")(lambda graph, ctx: graph)
