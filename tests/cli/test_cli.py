"""The `bitsmith` command line: each command works, and each kind of bad input ends
in one line on stderr naming the culprit and a non-zero exit (never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest





def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_help_lists_every_command(cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("models", "formats", "lower", "show", "demo"):
        assert command in out


@pytest.mark.parametrize("command", ["models", "formats", "lower", "show", "demo"])
def test_every_command_has_help(cli, command: str) -> None:
    code, out, _ = cli(command, "--help")
    assert code == 0 and "Usage" in out


def test_models_lists_the_zoo(cli) -> None:
    code, out, _ = cli("models")
    assert code == 0
    for name in ("mlp", "resnet-tiny", "llama-tiny", "minilm", "llama2-7b", "llama2-13b", "llama3-8b",
                 "opt-1.3b", "phi-2", "yi-6b"):
        assert name in out


def test_formats_lists_every_format_and_mixture(cli) -> None:
    from bitsmith.ir.formats.schemes import scheme_names

    code, out, _ = cli("formats")
    assert code == 0
    for name in scheme_names():  # formats, mixtures, MX and OliVe schemes
        assert name in out
    assert "{-16, -12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12}" in out  # bitmod_fp4_ea_neg (FACTS §1.1)


def test_lower_then_show_round_trip(cli, tmp_path: Path) -> None:
    out_file = tmp_path / "mlp.json"
    code, out, err = cli("lower", "mlp", "-o", str(out_file))
    assert code == 0, err
    assert out_file.exists() and out_file.with_suffix(".npz").exists()
    assert "parameters:" in out and "MACs:" in out
    code, out, err = cli("show", str(out_file))
    assert code == 0, err
    assert out.startswith("graph mlp(%x: f32[")
    assert any(line.strip().startswith("%") and "= linear(" in line for line in out.splitlines())


def test_unknown_model_lists_the_valid_names(cli, tmp_path: Path) -> None:
    code, _, err = cli("lower", "lama-tiny", "-o", str(tmp_path / "x.json"))
    line = one_line_error(err)
    assert code != 0
    assert "lama-tiny" in line and "llama-tiny" in line and "minilm" in line


def test_missing_user_file(cli, tmp_path: Path) -> None:
    code, _, err = cli("lower", f"{tmp_path}/nope.py:make", "-o", str(tmp_path / "x.json"))
    line = one_line_error(err)
    assert code != 0 and "nope.py" in line


def test_missing_factory(cli, tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("import torch\n")
    code, _, err = cli("lower", f"{tmp_path}/model.py:make", "-o", str(tmp_path / "x.json"))
    line = one_line_error(err)
    assert code != 0 and "make" in line


def test_factory_that_fails(cli, tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("def make():\n    raise RuntimeError('weights are on holiday')\n")
    code, _, err = cli("lower", f"{tmp_path}/model.py:make", "-o", str(tmp_path / "x.json"))
    line = one_line_error(err)
    assert code != 0 and "weights are on holiday" in line


def test_op_outside_the_ir_names_the_aten_op_and_its_source(cli, tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "import torch\n"
        "class Running(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.cumsum(x, dim=0)\n"
        "def make():\n"
        "    return Running(), (torch.randn(4, 3),)\n"
    )
    code, _, err = cli("lower", f"{tmp_path}/model.py:make", "-o", str(tmp_path / "x.json"))
    line = one_line_error(err)
    assert code != 0
    assert "aten.cumsum" in line and "model.py:4 in forward: return torch.cumsum(x, dim=0)" in line


def test_user_model_lowers(cli, tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()), (torch.randn(2, 8),)\n"
    )
    code, out, err = cli("lower", f"{tmp_path}/model.py:make", "-o", str(tmp_path / "m.json"))
    assert code == 0, err
    assert "linear" in out


@pytest.fixture
def saved_mlp(tmp_path: Path) -> Path:
    from bitsmith.api import lower

    path = tmp_path / "mlp.json"
    lower("mlp").save(str(path))
    return path


def test_truncated_json(cli, saved_mlp: Path) -> None:
    text = saved_mlp.read_text()
    saved_mlp.write_text(text[: len(text) // 2])
    code, _, err = cli("show", str(saved_mlp))
    line = one_line_error(err)
    assert code != 0 and "mlp.json" in line


def test_corrupt_json(cli, saved_mlp: Path) -> None:
    saved_mlp.write_bytes(b"\x00\xff not json at all")
    code, _, err = cli("show", str(saved_mlp))
    assert code != 0 and "mlp.json" in one_line_error(err)


def test_missing_file(cli, tmp_path: Path) -> None:
    code, _, err = cli("show", str(tmp_path / "absent.json"))
    assert code != 0 and "absent.json" in one_line_error(err)


def test_shape_mismatch_is_caught_by_the_validator(cli, saved_mlp: Path) -> None:
    doc = json.loads(saved_mlp.read_text())
    node = next(n for n in doc["graph"]["nodes"] if n["op"] == "linear")
    node["output"]["shape"][-1] += 1  # the saved type no longer follows from the inputs
    saved_mlp.write_text(json.dumps(doc))
    code, _, err = cli("show", str(saved_mlp))
    line = one_line_error(err)
    assert code != 0
    assert f"%{node['output']['name']}" in line and "linear" in line


def test_bad_phase(cli, tmp_path: Path) -> None:
    code, _, err = cli("lower", "llama-tiny", "--phase", "train", "-o", str(tmp_path / "x.json"))
    assert code != 0 and "phase" in err


def test_quantize_prints_the_error_table_and_saves_a_loadable_graph(cli, tmp_path: Path) -> None:
    from bitsmith.ir.graph import Graph

    out_path = tmp_path / "mlp_q.json"
    code, out, _ = cli("quantize", "mlp", "--format", "bitmod4", "--group-size", "32",
                       "-o", str(out_path))
    assert code == 0
    assert "SQNR dB" in out and "0.weight" in out and "(4.5 bits/weight)" in out
    graph = Graph.load(str(out_path))
    assert [c.quant.scheme for c in graph.constants if c.quant is not None] == ["bitmod4"] * 3
    # a saved graph is accepted as MODEL too
    code, out, _ = cli("quantize", str(out_path), "--format", "int8_sym", "--group-size", "32")
    assert code == 0 and "int8_sym" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "int5x"], "--format: unknown format 'int5x'; valid: int2,"),
    (["--format", "int4", "--group-size", "48"], "group size 48 does not divide axis length 64"),
    (["--format", "bitmod4", "--asymmetric"], "asymmetric quantisation needs one integer format"),
])
def test_quantize_bad_input_is_one_line(cli, args: list[str], message: str) -> None:
    code, _, err = cli("quantize", "mlp", *args)
    assert code == 1
    assert message in one_line_error(err)
