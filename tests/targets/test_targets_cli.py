"""`bitsmith targets`: the library table, a grouped description with derived
figures, and `check` exiting 0 with one OK line or 1 with one error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsmith.targets import list_targets




def test_targets_lists_the_library(cli) -> None:
    code, out, _ = cli("targets")
    assert code == 0
    for name in list_targets():
        assert name in out
    for word in ("accelerator", "gpu", "bit_serial", "64x16x4", "1GHz", "bitmod3"):
        assert word in out


def test_targets_help_names_its_commands(cli) -> None:
    code, out, _ = cli("targets", "--help")
    assert code == 0 and "show" in out and "check" in out


@pytest.mark.parametrize(("name", "words"), [
    ("bitmod", ["bit_serial", "decode 64x16, prefill 32x32", "1.544 mm² / 2.316 mm²", "32 B/cycle = 32 GB/s",
                "18.75 pJ/bit", "uint8 per group", "unknown", "1024bit (prefill 512bit)"]),
    ("lut_tensor_core", ["decode M2 N64 K4", "group 4, 8 entries of f16 (symmetric)", "256 (0.512 TOPS)"]),
    ("cuda", ["sm_90", "f16 989.4", "fp8_e4m3 1978.9", "3.35TB/s"]),
    ("cpu", ["arch", "cores", "LLVM -mattr"]),
])
def test_show_groups_fields_and_derived_figures(cli, name: str, words: list[str]) -> None:
    code, out, _ = cli("targets", "show", name)
    assert code == 0
    for word in words:
        assert word in out, word


def test_show_an_unknown_target_is_one_error_line(cli) -> None:
    code, out, err = cli("targets", "show", "bitmood")
    assert code == 1 and out == ""
    assert err.strip().startswith("error: unknown target 'bitmood'; shipped: ant,") and err.count("\n") == 1


def test_check_accepts_a_good_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: bitmod\npe_array:\n  rows: 32\n  cols: 32\n  phases: null\n")
    code, out, err = cli("targets", "check", str(path))
    assert code == 0 and err == ""
    assert out.strip() == f"OK {path}: accelerator 'mine', bit_serial 32x32x4 at 1GHz"


def test_check_rejects_a_bad_file_with_one_line(cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: bitmod\nclock: 1GB\n")
    code, out, err = cli("targets", "check", str(path))
    assert code == 1 and out == ""
    assert err == f"error: {path}:3: clock: '1GB' measures data size; expected frequency in Hz, kHz, MHz, GHz\n"
