"""`bitsmith run` and `bitsmith compare`: the front door of the TVM backend, and
its bad-input errors (one line on stderr, exit status 1)."""

from __future__ import annotations

import re

import pytest
import tvm

from bitsmith.backends.tvm.graph_runtime import Check
from bitsmith.comparison import compare

NO_GPU = pytest.mark.skipif(tvm.cuda().exist, reason="a CUDA GPU is present")


def _one_line_error(result: tuple[int, str, str], pattern: str) -> None:
    code, _, err = result
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err


def test_run_checks_outputs_and_prints_the_median_latency(cli) -> None:
    code, out, err = cli("run", "mlp", "--target", "cpu", "--backend", "tvm", "-f", "int4_sym", "-g", "32",
                         "--repeat", "3", "--kernel", "float")
    assert code == 0, err
    assert "mlp on cpu: 3 packed GEMM layers, weights: int4_sym x 3; kernels: blocked x 3" in out
    assert re.search(r"outputs match interpret: max rel err \d\.\d\de-\d\d \(tolerance 1e-04\)", out)
    assert re.search(r"latency: median [\d.]+ ms over 3 repeats \(after one warm-up", out)


def test_run_a_saved_graph_on_placeholder_inputs(cli, tmp_path) -> None:
    path = tmp_path / "mlp.json"
    assert cli("compile", "mlp", "--target", "bitmod", "-g", "32", "-o", str(path))[0] == 0
    code, out, err = cli("run", str(path), "--repeat", "1")
    assert code == 0, err
    assert "3 packed GEMM layers" in out and "outputs match interpret" in out


def test_run_auto_kernel_names_its_path_and_tolerance(cli) -> None:
    code, out, err = cli("run", "mlp", "-f", "int4_sym", "-g", "32", "--repeat", "1")
    assert code == 0, err
    if "vnni" in out:  # a host with AVX-512 VNNI; the 10-output head is not a multiple of 16 rows
        assert "kernels: vnni x 2, blocked x 1" in out and "(tolerance 5e-02)" in out
    else:
        assert "kernels: blocked x 3" in out and "(tolerance 1e-04)" in out


def test_run_tune_measures_each_layer_shape_once_then_reads_the_cache(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for _ in range(2):
        code, out, err = cli("run", "mlp", "-f", "int4_sym", "-g", "32", "--repeat", "1", "--tune")
        assert code == 0, err
        assert re.search(r"; rows per task: (\d+ x \d+(, )?)+\n", out), out
    cached = (tmp_path / "bitsmith" / "tvm_tuning.json").read_text()
    assert cached.count('"layout"') == 3  # one entry per layer shape (mlp's three differ)


@pytest.mark.parametrize("args, pattern", [
    (["--kernel", "gpu"], r"unknown kernel 'gpu': expected one of auto, float, vnni, lut"),
    (["-f", "olive4", "-g", "32"], r"error: weight 0\.weight: olive4 has an outlier side-table; no TVM kernel"),
    (["-f", "int4_sym", "-g", "32", "--kernel", "lut"], r"error: weight 4\.weight: the lut layout needs N a multiple "
                                                        r"of 16, got 10$"),
    (["-f", "int4_sym", "-g", "4"], r"group size 4 is not a multiple of 8 elements"),
    (["--target", "bitmod"], r"target bitmod is an accelerator: `bitsmith run` needs a cpu or gpu target"),
    (["--backend", "onnx"], r"unknown backend 'onnx': expected one of tvm"),
])
def test_run_bad_input_is_one_line(cli, args: list[str], pattern: str) -> None:
    _one_line_error(cli("run", "mlp", *args), pattern)


@NO_GPU
def test_cuda_without_a_gpu_is_one_line(cli) -> None:
    _one_line_error(cli("run", "mlp", "--target", "cuda"), r"CUDA requested but no CUDA GPU is visible")
    _one_line_error(cli("compare", "mlp", "--backend", "cuda", "-g", "32"), r"no CUDA GPU")


def test_compare_prints_one_table_with_the_speedup(cli) -> None:
    code, out, err = cli("compare", "mlp", "--target", "bitmod", "--backend", "cpu", "-g", "32", "--repeat", "1")
    assert code == 0, err
    assert "mlp: bitmod (simulated, 1 GHz) vs cpu (TVM, measured)" in out
    for column in ("sim cycles", "sim µs", "cpu µs", "speed-up", "GEMM layers", "whole model"):
        assert column in out
    assert len(re.findall(r"│ \d\.weight|│ \d +│ linear", out)) == 3
    assert "outputs match interpret" in out


def test_compare_is_callable_from_python() -> None:
    report = compare("mlp", "bitmod", group_size=32, repeat=1)
    assert [row.name for row in report.layers] == ["0", "2", "4"]
    assert all(row.format == "int6" and row.sim_cycles > 0 and row.measured_s > 0 for row in report.layers)
    row = report.layers[0]
    assert row.sim_s == row.sim_cycles / report.clock_hz and row.speedup == row.measured_s / row.sim_s
    assert isinstance(report.check, Check) and report.check.ok
    assert report.sim_total_s >= sum(r.sim_s for r in report.layers)


def test_compare_bad_target_is_one_line(cli) -> None:
    _one_line_error(cli("compare", "mlp", "--target", "cpu"), r"error: .*cpu")
