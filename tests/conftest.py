"""Fixtures every test folder shares."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from bitsmith.cli import main


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Runs `bitsmith ARGS...` in-process on a wide terminal: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["bitsmith", *args])
        monkeypatch.setenv("COLUMNS", "200")
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
