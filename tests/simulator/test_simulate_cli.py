"""`bitsmith.simulate` and `bitsmith simulate`: a report per layer, JSON and plots
on request, and bad input as one line with exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_graphs import zoo_graph, zoo_inputs

import bitsmith
from bitsmith.compiler import prepare_weights
from bitsmith.simulator.cost import estimate
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.report import SimReport
from bitsmith.simulator.workload import workload
from bitsmith.targets import load_target




@pytest.fixture
def saved(tmp_path: Path):
    def save(model: str, phase: str = "prefill") -> str:
        path = tmp_path / f"{model}-{phase}.json"
        zoo_graph(model, phase).save(str(path))
        return str(path)
    return save


def test_simulate_api_costs_every_layer_and_runs_the_values() -> None:
    target = load_target("bitmod")
    graph = prepare_weights(zoo_graph("mlp"), target, "bitmod4", 32)
    report = bitsmith.simulate(graph, target, inputs=zoo_inputs("mlp"))
    assert [layer.result.name for layer in report.layers] == [p.name for p in workload(graph, target)]
    assert report.phase == "prefill" and report.cycles > 0
    assert report.macs == 64 * 128 + 128 * 128 + 128 * 10
    assert report.outputs is not None and report.outputs[0].shape == (1, 10)
    assert SimReport.from_json(report.to_json()) == report


def test_simulate_decode_graph_takes_the_decode_phase() -> None:
    graph = prepare_weights(zoo_graph("llama-tiny", "decode"), "bitmod", "int8", 4)
    report = bitsmith.simulate(graph, "bitmod")
    assert report.phase == "decode"
    assert report.layer("model.layers.0.self_attn.qk").result.macs == 4 * 1 * 17 * 16


def test_cli_prints_the_table_and_writes_json_and_plots(cli, saved, tmp_path: Path) -> None:
    out_json, plots = tmp_path / "report.json", tmp_path / "plots"
    code, out, err = cli("simulate", saved("resnet-tiny"), "--target", "fp16_mac",
                         "--json", str(out_json), "--plot", str(plots))
    assert code == 0, err
    assert "layer2.conv1" in out and "cycles:" in out and "energy:" in out
    report = SimReport.from_json(out_json.read_text())
    assert report.target == "fp16_mac" and report.layer("stem.0").result.macs == 32 * 32 * 16 * 27
    assert sorted(p.name for p in plots.iterdir()) == ["cycles.png", "energy.png", "roofline.png"]


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "nosuch"], "unknown target 'nosuch'"),
    (["--target", "cpu"], "target cpu is a cpu target; the simulator costs accelerators"),
    (["--target", "fp16_mac", "--format", "int4"],
     "layer %0 (linear): weight format int4 is not supported by target fp16_mac (weights: f16)"),
    (["--target", "bitmod", "--format", "nosuch"], "unknown weight format 'nosuch'"),
    (["--target", "stripes"], "weight format i16 is a wide integer type with no quantiser"),
    (["--target", "bitmod", "--format", "int8", "--group-size", "5"], "group size 5 does not divide"),
])
def test_bad_input_is_one_line(cli, saved, args: list[str], message: str) -> None:
    code, _, err = cli("simulate", saved("mlp"), *args)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0]


def test_op_the_target_cannot_run_is_one_line(cli, saved) -> None:
    code, _, err = cli("simulate", saved("resnet-tiny"), "--target", "bitfusion")
    assert code == 1
    assert err.strip() == "error: layer %relu (relu): target bitfusion has no vector unit to run it"


def test_unknown_engine_and_phase() -> None:
    graph = prepare_weights(zoo_graph("mlp"), "bitmod", "int8", 32)
    with pytest.raises(SimulationError, match="engine must be one of fast, trace"):
        bitsmith.simulate(graph, "bitmod", engine="slow")
    with pytest.raises(SimulationError, match="phase must be one of prefill, decode"):
        bitsmith.simulate(graph, "bitmod", phase="training")


def test_cost_estimate_agrees_with_the_report() -> None:
    target = load_target("bitmod")
    graph = prepare_weights(zoo_graph("mlp"), target, "int8", 32)
    report = bitsmith.simulate(graph, target)
    whole = estimate(graph, target)
    assert (whole.cycles, whole.dram_bytes) == (report.cycles, report.dram_bytes)
    assert whole.energy_pj == report.energy
    first = estimate(workload(graph, target)[0], target)
    assert first.cycles == report.layers[0].result.cycles
