"""`bitsmith trace`: the per-cycle view of a small GEMM, its timeline PNG, and
one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest





def test_trace_shows_units_and_totals(cli, tmp_path: Path) -> None:
    # The lut_tensor_core GEMM of test_engines.py: 209 cycles (load 40, compute 161, store 8).
    png = tmp_path / "timeline.png"
    code, out, _ = cli("trace", "--target", "lut_tensor_core", "--gemm", "2x64x64", "--format", "int2",
                       "--png", str(png))
    assert code == 0
    assert "209 cycles" in out
    for unit in ("DRAM load", "PEs computing", "results draining", "PE(0,0) stage 1", "DRAM store"):
        assert unit in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trace_window_lists_only_its_cycles(cli) -> None:
    # Cycles 0:40 of the same GEMM are the first load only, with the array waiting for it.
    code, out, _ = cli("trace", "--target", "lut_tensor_core", "--gemm", "2x64x64", "--cycles", "0:40")
    assert code == 0
    assert "DRAM load" in out and "stall: wait DRAM" in out
    assert "PEs computing" not in out


@pytest.mark.parametrize(("args", "message"), [
    (("--target", "bitmod", "--gemm", "4x4x4", "--format", "f16"), "target bitmod takes weight formats"),
    (("--target", "bitmod", "--gemm", "64x64x8192", "--group-size", "4096"), "layer gemm: cannot tile 64x64x8192"),
    (("--target", "cpu", "--gemm", "4x4x4"), "target cpu is a cpu target"),
])
def test_bad_input_is_one_line(cli, args: tuple[str, ...], message: str) -> None:
    code, _, err = cli("trace", *args)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("args", [("--gemm", "4x4"), ("--gemm", "4x4x4", "--cycles", "9:3")])
def test_usage_errors_exit_2(cli, args: tuple[str, ...]) -> None:
    code, _, _ = cli("trace", "--target", "bitmod", *args)
    assert code == 2
