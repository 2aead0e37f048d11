"""The benchmark scripts are run by hand, not by the suite: each must at least
compile, and answer --help without measuring anything."""

from __future__ import annotations

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parents[2] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_compiles(script: Path) -> None:
    py_compile.compile(str(script), doraise=True)


def test_gemv_benchmark_answers_help() -> None:
    out = subprocess.run([sys.executable, str(BENCHMARKS[0].parent / "gemv_cpu.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--schemes" in out and "--repeat" in out
