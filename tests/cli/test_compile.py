"""`bitsmith.compile` and `bitsmith compile`: the default pipeline, a bit budget,
saving with the target beside the graph, and simulating the saved model."""

from __future__ import annotations

from pathlib import Path

import pytest

import bitsmith
from bitsmith.ir.errors import BitsmithError
from bitsmith.api import lower
from bitsmith.compiler import CompiledModel, parse_budget, parse_energy, parse_latency
from bitsmith.passes.allocate_bits import Budget


def test_compile_quantises_tiles_and_reloads(tmp_path: Path) -> None:
    compiled = bitsmith.compile("mlp", "bitmod", scheme="int8", group_size=32)
    assert [r.name for r in compiled.records] == ["canonicalize", "quantize_weights", "quantize_activations",
                                                 "fuse_epilogue", "tiling"]
    gemms = [n for n in compiled.graph.nodes if n.op.value == "linear"]
    assert all(n.attrs["tile"] is not None for n in gemms)
    assert {c.quant.scheme for c in compiled.graph.constants if c.quant is not None} == {"int8"}
    compiled.save(tmp_path / "mlp.json")
    again = CompiledModel.load(tmp_path / "mlp.json")
    assert again.target == compiled.target
    assert again.simulate().cycles == compiled.simulate().cycles


def test_budget_mixes_formats_within_it() -> None:
    compiled = bitsmith.compile("mlp", "bitmod", budget="4.6bits", group_size=32)
    specs = [c.quant for c in compiled.graph.constants if c.quant is not None]
    elements = sum(s.shape[0] * s.shape[1] for s in specs)
    assert sum(s.bits_per_weight() * s.shape[0] * s.shape[1] for s in specs) / elements <= 4.6
    assert [r.name for r in compiled.records][:2] == ["canonicalize", "allocate_bits"]  # plain error by default


@pytest.mark.parametrize("sensitivity", ["activation", "fisher"])
def test_calibrated_budget_runs_on_the_zoo_models_inputs(sensitivity: str) -> None:
    compiled = bitsmith.compile("mlp", "bitmod", budget="4.6bits", group_size=32, calibrate=sensitivity)
    assert [r.name for r in compiled.records][:3] == ["canonicalize", "calibrate", "allocate_bits"]
    with pytest.raises(BitsmithError, match="needs a budget and example inputs"):
        bitsmith.compile(lower("mlp"), "bitmod", budget=4.6, group_size=32, calibrate=sensitivity)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("3.5bits", "bits", 3.5), ("4", "bits", 4.0), (" 2.25 bit ", "bits", 2.25), (3, "bits", 3.0),
    ("12MB", "bytes", 12e6), ("1.5MiB", "bytes", 1.5 * 2**20), ("800kB", "bytes", 8e5), ("4096 bytes", "bytes", 4096),
])
def test_budget_parsing(text, kind, value) -> None:
    assert parse_budget(text) == Budget(kind, value)


@pytest.mark.parametrize(("text", "picojoules"), [("2.5mJ", 2.5e9), ("800uJ", 8e8), ("3e6pJ", 3e6), (1e5, 1e5),
                                                  ("40 nJ", 4e4)])
def test_energy_parsing(text, picojoules) -> None:
    assert parse_energy(text) == pytest.approx(picojoules)


def test_compile_cli_then_simulate_without_naming_the_target(cli, tmp_path: Path) -> None:
    out = tmp_path / "mlp.json"
    code, stdout, err = cli("compile", "mlp", "-t", "bitmod", "-f", "int8", "-g", "32", "-o", str(out),
                            "--dump-ir", str(tmp_path / "dump"))
    assert code == 0, err
    assert "compiled for bitmod" in stdout and "predicted:" in stdout
    assert (tmp_path / "mlp.target.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "dump").iterdir()) == [
        "000_input.txt", "001_canonicalize.txt", "002_quantize_weights.txt", "003_quantize_activations.txt",
        "004_fuse_epilogue.txt", "005_tiling.txt"]
    code, stdout, err = cli("simulate", str(out))
    assert code == 0, err
    assert "mlp on bitmod" in stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--budget", "2bits", "-g", "32"], "budget 2 bits/weight is infeasible with int6, int8, bitmod4, bitmod3: "
                                        "the smallest feasible budget is 3.5000 bits/weight"),
    (["--budget", "lots"], "budget 'lots': expected average bits per weight"),
    (["--budget", "4", "-f", "int8"], "give either a budget (mixed formats) or a format, not both"),
])
def test_compile_bad_input_is_one_line(cli, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli("compile", "mlp", "-t", "bitmod", "-o", str(tmp_path / "x.json"), *args)
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], err


def test_compile_cli_calibrates_with_the_named_sensitivity(cli, tmp_path: Path) -> None:
    out = tmp_path / "mlp.json"
    code, stdout, err = cli("compile", "mlp", "-t", "bitmod", "-g", "32", "--budget", "4.6bits",
                            "--calibrate", "fisher", "-o", str(out))
    assert code == 0, err
    assert "pass calibrate:" in stdout and out.is_file()
    code, _, err = cli("compile", "mlp", "-t", "bitmod", "--budget", "4.6bits", "--calibrate", "hessian",
                       "-o", str(out))
    assert code == 2 and "'hessian' is not one of 'activation', 'fisher'" in err


def test_simulate_needs_a_target_for_an_uncompiled_model(cli) -> None:
    code, _, err = cli("simulate", "mlp")
    assert code == 1 and "--target is required" in err


@pytest.mark.parametrize(("text", "cycles"), [("2.5Mcycles", 2_500_000), ("20kcycles", 20_000), ("1500", 1500),
                                              ("2.5ms", 2_500_000), ("300us", 300_000), (4096, 4096)])
def test_latency_parsing_at_one_gigahertz(text, cycles) -> None:
    assert parse_latency(text, 1e9) == cycles


def test_latency_budget_compiles_within_it_and_bad_latencies_are_one_line(cli, tmp_path: Path) -> None:
    compiled = bitsmith.compile("llama-tiny", "bitmod", latency="20kcycles", group_size=4)
    assert compiled.records[1].name == "allocate_bits"
    code, _, err = cli("compile", "llama-tiny", "-t", "bitmod", "-g", "4", "--latency", "1us",
                       "-o", str(tmp_path / "x.json"))
    assert code == 1 and "budget 1,000 cycles is infeasible" in err and "smallest feasible budget is" in err
    code, _, err = cli("compile", "mlp", "-t", "bitmod", "--latency", "soon", "-o", str(tmp_path / "x.json"))
    assert code == 1 and "latency 'soon': expected cycles or a time" in err


def test_byte_and_energy_budgets_from_the_command_line(cli, tmp_path: Path) -> None:
    out = tmp_path / "mlp.json"
    code, stdout, err = cli("compile", "mlp", "-t", "bitmod", "-g", "32", "--budget", "20kB", "-o", str(out))
    assert code == 0, err
    assert "budget 20,000 bytes: spent " in stdout
    compiled = CompiledModel.load(out)
    stored = sum(c.type.numel * c.quant.bits_per_weight() / 8 if c.quant is not None else c.type.nbytes
                 for c in compiled.graph.constants)
    assert 15e3 < stored <= 20e3  # between every weight at 3 bits and every weight at 8
    code, _, err = cli("compile", "llama-tiny", "-t", "bitmod", "-g", "4", "--energy", "1nJ", "-o", str(out))
    assert code == 1 and "budget 1,000 pJ is infeasible" in err and "smallest feasible budget is" in err
    code, _, err = cli("compile", "mlp", "-t", "bitmod", "--energy", "2 apples", "-o", str(out))
    assert code == 1 and "energy '2 apples': expected an energy" in err
    code, _, err = cli("compile", "mlp", "-t", "bitmod", "--energy", "1mJ", "--latency", "1ms", "-o", str(out))
    assert code == 1 and "give one budget, not latency and energy" in err


def test_a_saved_compiled_model_simulates_without_torch(tmp_path: Path) -> None:
    """The saved graph, weights and target are all a simulation needs: a fresh
    interpreter in which importing torch fails loads and simulates it."""
    import subprocess
    import sys

    compiled = bitsmith.compile("llama-tiny", "bitmod", scheme="bitmod4", group_size=4)
    compiled.save(tmp_path / "m.json")
    script = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from bitsmith.compiler import CompiledModel
print(CompiledModel.load({str(tmp_path / "m.json")!r}).simulate().cycles)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.strip()) == compiled.simulate().cycles


def test_a_float_datapath_compiles_with_its_weights_cast() -> None:
    """fp16_mac's weight format is the wide type f16: quantize_weights casts the
    weights instead of quantising them (they were an unknown format before)."""
    compiled = bitsmith.compile("mlp", "fp16_mac")
    weights = [c for c in compiled.graph.constants if c.name.endswith("weight")]
    assert weights and all(c.quant is None and str(c.type.dtype) == "f16" for c in weights)
    reference = lower("mlp")
    for weight in weights:
        original = reference.constant(weight.name).data
        assert (weight.data == original.astype("float16")).all()
    assert compiled.simulate().cycles > 0
