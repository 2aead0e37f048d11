"""The loader: `extends:` chains and cycles, overrides built in Python, and one
exact line (file, line, field) for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bitsmith.targets import (Accelerator, TargetError, load_target, parse_quantity, target_from_dict,
                              target_from_yaml)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(source: str | Path) -> str:
    with pytest.raises(TargetError) as info:
        load_target(source)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---- extends -------------------------------------------------------------------------------------------------


def test_extends_chains_of_depth_four_resolve_with_the_nearest_override_winning(tmp_path: Path) -> None:
    write(tmp_path, "base/level0.yaml", load_target("fp16_mac").to_yaml().replace("name: fp16_mac", "name: level0"))
    write(tmp_path, "base/level1.yaml", "name: level1\nextends: level0.yaml\nclock: 800MHz\n")
    write(tmp_path, "mid/level2.yaml", "name: level2\nextends: ../base/level1.yaml\n"
                                       "pe_array:\n  rows: 32\n  cols: 24\n  phases: null\n")
    top = write(tmp_path, "level3.yaml", "name: level3\nextends: mid/level2.yaml\nclock: 900MHz\n"
                                         "buffers:\n  weight:\n    size: 1MiB\n")
    target = load_target(top)
    assert isinstance(target, Accelerator) and target.name == "level3"
    assert target.clock == parse_quantity("900MHz")
    assert target.pe_array.shape() == (32, 24) and target.pe_array.phases is None
    assert target.pe_array.pe_energy_per_cycle == parse_quantity("0.77pJ")  # from level0, three files up
    assert target.buffers["weight"].size == parse_quantity("1MiB")          # mapping merged: banks kept
    assert target.buffers["weight"].banks == 8


def test_the_shipped_library_itself_has_a_chain_of_depth_three() -> None:
    lossy, lossless, baseline = load_target("bitmod_lossy"), load_target("bitmod"), load_target("fp16_mac")
    assert lossy.formats.default_weights == "bitmod3"      # bitmod_lossy.yaml
    assert lossy.pe_array.pe == lossless.pe_array.pe == "bit_serial"   # bitmod.yaml
    assert lossy.dram == baseline.dram                     # fp16_mac.yaml


def test_a_list_replaces_and_null_clears(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, "mine.yaml", "name: mine\nextends: bitmod\ndequant: null\n"
                                                      "formats:\n  weights: [int6]\n"))
    assert target.dequant is None
    assert target.formats.weights == ["int6"] and target.formats.group_size == 128


def test_name_is_not_inherited(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "anon.yaml", "extends: bitmod\nclock: 2GHz\n"))
    assert message == f"{tmp_path / 'anon.yaml'}:1: name: required field missing"


@pytest.mark.parametrize("files", [
    {"a.yaml": "extends: a.yaml\n"},
    {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
    {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: ./c.yaml\n", "c.yaml": "extends: a.yaml\n"},
])
def test_a_cycle_in_extends_is_an_error_naming_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         files: dict[str, str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        write(tmp_path, name, f"name: {name[0]}\n{text}")
    chain = " -> ".join([*files, "a.yaml"])
    last = list(files)[-1]
    assert error_of("a.yaml") == f"{last}:2: extends: cycle {chain}"


@pytest.mark.parametrize(("text", "message"), [
    ("extends: bitmodd\n", "mine.yaml:2: extends: unknown target 'bitmodd'; shipped: ant, bitfusion, bitmod,"),
    ("extends: missing.yaml\n", "mine.yaml:2: extends: no such file 'missing.yaml'"),
    ("extends: [bitmod]\n", "mine.yaml:2: extends: must be a target name or a path to a .yaml file, got ['bitmod']"),
])
def test_a_bad_extends_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine.yaml", f"name: mine\n{text}")
    assert error_of("mine.yaml").startswith(message)


def test_an_error_points_at_the_file_that_wrote_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = load_target("fp16_mac").to_yaml().replace("name: fp16_mac", "name: base").replace("  rows: 64\n",
                                                                                          "  rows: 64\n  rowz: 2\n")
    write(tmp_path, "base.yaml", base)
    write(tmp_path, "child.yaml", "name: child\nextends: base.yaml\nclock: 2GHz\n")
    line = base.splitlines().index("  rowz: 2") + 1
    assert error_of("child.yaml").startswith(f"base.yaml:{line}: pe_array.rowz: unknown field; valid: pe, dataflow,")
    write(tmp_path, "child2.yaml", "name: child2\nextends: bitmod\npe_array:\n  pe: lut\n")
    assert error_of("child2.yaml") == "child2.yaml:3: pe_array.lut: required when pe is 'lut'"


# ---- one line per bad input ----------------------------------------------------------------------------------


BITMOD_WITH_BAD_ROWS = """\
# a copy of bitmod with a typo
name: bitmod
extends: fp16_mac
description: BitMoD with a negative row count
source: a typo
pe_array:
  pe: bit_serial
  dataflow: output_stationary
  cols: 16
  dot_product_width: 4
  bits_per_cycle: 2
  phases: null
  pe_area: 1507.7um2
  rows: -3
"""


def test_the_documented_example_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bitmod.yaml", BITMOD_WITH_BAD_ROWS)
    assert error_of("bitmod.yaml") == "bitmod.yaml:14: pe_array.rows: must be a positive integer, got -3"


MINIMAL = "name: m\nextends: bitmod\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "t.yaml: empty file; expected a mapping of target fields"),
    ("# just a comment\n\n", "t.yaml: empty file; expected a mapping of target fields"),
    ("- a\n- b\n", "t.yaml:1: the top level must be a mapping of target fields, got a list"),
    ("42\n", "t.yaml:1: the top level must be a mapping of target fields, got the scalar '42'"),
    ("name: a\nname: b\n", "t.yaml:2: name: duplicate key (first at line 1)"),
    ("pe_array:\n  rows: 1\n  cols: 2\n  rows: 3\n", "t.yaml:4: pe_array.rows: duplicate key (first at line 2)"),
    ("x: {a: 1\n", "t.yaml:2: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"),
    ("a: 1\n---\nb: 2\n", "t.yaml:2: invalid YAML: expected a single document in the stream, but found another"),
    ("base: &b {rows: 1}\npe_array:\n  <<: *b\n", "t.yaml:3: pe_array: merge keys (<<) are not supported; use"),
    ("1: one\n", "t.yaml:1: keys must be text, got 1"),
    ("? [a, b]\n: c\n", "t.yaml:1: keys must be text, got a list"),
    ("a: &a [*a]\n", "t.yaml:1: a[0]: an alias refers to a value that contains it"),
    ("a: !!python/object:os.system {}\n", "t.yaml:1: a: unsupported YAML tag tag:yaml.org,2002:python/object"),
    ("a: 2024-13-45\n", "t.yaml:1: a: cannot read '2024-13-45' as timestamp: month must be in 1..12"),
    ("a: !!float abc\n", "t.yaml:1: a: cannot read 'abc' as float: could not convert string to float: 'abc'"),
    ("a: !!binary aGVsbG8=\nname: x\n", "t.yaml:1: kind: must be one of accelerator, cpu, gpu, got 'nothing'"),
    ("name: x\nkind: tpu\n", "t.yaml:2: kind: must be one of accelerator, cpu, gpu, got 'tpu'"),
    (MINIMAL + "pe_array:\n  rowz: 3\n", "t.yaml:4: pe_array.rowz: unknown field; valid: pe, dataflow, rows, cols,"),
    (MINIMAL + "clock: 1000\n", "t.yaml:3: clock: needs a unit, e.g. '1GHz', got 1000"),
    (MINIMAL + "clock: 1GB\n", "t.yaml:3: clock: '1GB' measures data size; expected frequency in Hz, kHz, MHz,"),
    (MINIMAL + "clock: fast\n", "t.yaml:3: clock: 'fast' is not a number followed by a unit; expected frequency"),
    (MINIMAL + "clock: 0GHz\n", "t.yaml:3: clock: must be positive, got '0GHz'"),
    (MINIMAL + "dram:\n  energy_per_bit: -18.75pJ/bit\n", "t.yaml:4: dram.energy_per_bit: must be positive, got"),
    (MINIMAL + "pe_array:\n  rows: true\n", "t.yaml:4: pe_array.rows: must be a positive integer, got true"),
    (MINIMAL + "pe_array:\n  rows: '64'\n", "t.yaml:4: pe_array.rows: must be a positive integer, got '64'"),
    (MINIMAL + "pe_array:\n  rows: 64.0\n", "t.yaml:4: pe_array.rows: must be a positive integer, got 64.0"),
    (MINIMAL + "pe_array:\n  pnr_factor: 0.5\n", "t.yaml:4: pe_array.pnr_factor: must be a number of at least 1, got"),
    (MINIMAL + "pe_array:\n  pe: magic\n", "t.yaml:4: pe_array.pe: must be one of 'mac', 'bit_serial',"),
    (MINIMAL + "pe_array: [1, 2]\n", "t.yaml:3: pe_array: must be a mapping, got [1, 2]"),
    (MINIMAL + "pe_array:\n  phases:\n    prefill: {rows: 64, cols: 64}\n",
     "t.yaml:5: pe_array.phases.prefill: 64x64 is 4096 PEs but the array has 64x16 = 1024; a phase re-arranges"),
    (MINIMAL + "pe_array:\n  pe: mac\n",  # the inherited value is reported where it was written
     "bitmod.yaml:23: pe_array.bits_per_cycle: only bit-serial and LUT PEs take bits per cycle, not pe 'mac'"),
    (MINIMAL + "pe_array:\n  lut: {group: 4, symmetric: true, entry_format: f16}\n",
     "t.yaml:4: pe_array.lut: only allowed when pe is 'lut', not 'bit_serial'"),
    (MINIMAL + "formats:\n  weights: [int4, int44]\n", "t.yaml:4: formats.weights[1]: unknown format 'int44'"),
    (MINIMAL + "formats:\n  weights: []\n", "t.yaml:4: formats.weights: must list at least one format"),
    (MINIMAL + "formats:\n  default_weights: int4\n",
     "t.yaml:4: formats.default_weights: must be one of weights (int6, int8, bitmod4, bitmod3), got 'int4'"),
    (MINIMAL + "formats:\n  group_size: 0\n", "t.yaml:4: formats.group_size: must be a positive integer, got 0"),
    (MINIMAL + "buffers:\n  weight:\n    size: 0KiB\n", "t.yaml:5: buffers.weight.size: must be positive, got '0KiB'"),
    (MINIMAL + "buffers:\n  weight:\n    phases:\n      prefill: {port_width: 512}\n",
     "t.yaml:6: buffers.weight.phases.prefill.port_width: needs a unit, e.g. '512KiB', got 512"),
    (MINIMAL + "buffers:\n  input:\n    phases:\n      train: {port_width: 512bit}\n",
     "t.yaml:6: buffers.input.phases.train: unknown field; valid: prefill, decode"),
    (MINIMAL + "buffers:\n  input:\n    phases:\n      prefill: {port_width: null}\n",
     "t.yaml:6: buffers.input.phases.prefill.port_width: must be a number with a unit, e.g. '512KiB', got null"),
    (MINIMAL + "buffers:\n  Weight-2:\n    size: 1KiB\n    source: x\n",
     "t.yaml:4: buffers.Weight-2: must be a lower-case name of letters, digits and _, got 'Weight-2'"),
    (MINIMAL + "description: ''\n", "t.yaml:3: description: must be non-empty text, got ''"),
])
def test_each_bad_input_is_one_line_naming_file_line_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               text: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "t.yaml", text)
    assert error_of("t.yaml").startswith(message)


def test_undecodable_bytes_and_missing_files_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"name: \xff\xfe\n")
    assert error_of("bin.yaml") == "bin.yaml: not UTF-8 text (byte 0xff at offset 6)"
    assert error_of("nothere.yaml") == "no such file 'nothere.yaml'"
    assert error_of("nothere").startswith("unknown target 'nothere'; shipped: ant, ")


def test_an_alias_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert "more than 100000 values" in error_of("bomb.yaml")


# ---- built and overridden in Python --------------------------------------------------------------------------


def test_override_returns_a_new_validated_target_and_leaves_the_original() -> None:
    bitmod = load_target("bitmod")
    wide = bitmod.override({"pe_array.rows": 128, "pe_array.phases.prefill": {"rows": 64, "cols": 32},
                            "clock": "800MHz", "buffers": {"weight": {"size": parse_quantity("1MiB")}}})
    assert wide.pe_array.shape() == (128, 16) and wide.pe_array.shape("prefill") == (64, 32)
    assert wide.clock_hz == 800e6
    assert wide.buffers["weight"].size.to("KiB") == 1024 and wide.buffers["weight"].banks == 8
    assert bitmod == load_target("bitmod") and bitmod.pe_array.rows == 64
    assert load_target("bitmod").override({}) == bitmod


@pytest.mark.parametrize(("changes", "message"), [
    ({"pe_array.rows": -3}, "override of bitmod: pe_array.rows: must be a positive integer, got -3"),
    ({"pe_array.rows": 32}, "override of bitmod: pe_array.phases.prefill: 32x32 is 1024 PEs but the array has 32x16"),
    ({"pe_array.colz": 3}, "override of bitmod: pe_array.colz: unknown field; valid: pe, dataflow,"),
    ({"pe_array.dataflow": "row_stationary"}, "override of bitmod: pe_array.dataflow: must be one of "
                                              "'output_stationary', 'weight_stationary' or 'input_stationary'"),
    ({"clock": parse_quantity("1KiB")}, "override of bitmod: clock: 1KiB measures data size, expected frequency"),
    ({"kind": "gpu"}, "override of bitmod: kind: must be one of 'accelerator', got 'gpu'"),
    ({"pe_array..rows": 3}, "override of bitmod: 'pe_array..rows' is not a dotted field path"),
    ({"clock": "1GHz", "clock.hz": 3}, "override of bitmod: clock.hz: clock is given a value and sub-fields at once"),
])
def test_a_bad_override_is_one_line(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TargetError) as info:
        load_target("bitmod").override(changes)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("changes", "message"), [
    ({"pe_array.lut.tables_per_cycle": 0}, "pe_array.lut.tables_per_cycle: must be a positive integer, got 0"),
    ({"pe_array.lut.shared_builder": "no"}, "pe_array.lut.shared_builder: must be true or false, got 'no'"),
])
def test_lut_builder_fields_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TargetError, match=f"^override of lut_tensor_core: {message}$"):
        load_target("lut_tensor_core").override(changes)


def test_a_target_is_immutable() -> None:
    target = load_target("bitmod")
    with pytest.raises(ValidationError):
        target.pe_array.rows = 3  # type: ignore[misc]


def test_a_target_builds_from_a_python_mapping_or_yaml_text() -> None:
    built = target_from_dict({"name": "mine", "extends": "bitmod", "pe_array": {"rows": 32, "cols": 32}})
    assert built.pe_array.shape() == (32, 32)
    assert built.override({"name": "bitmod", "pe_array.rows": 64, "pe_array.cols": 16}) == load_target("bitmod")
    assert target_from_yaml(load_target("loom").to_yaml()) == load_target("loom")
    with pytest.raises(TargetError, match=r"^mine: pe_array.rows: must be a positive integer, got 0$"):
        target_from_dict({"name": "mine", "extends": "bitmod", "pe_array": {"rows": 0}}, origin="mine")
    with pytest.raises(TargetError, match=r"^<dict>: keys must be text, got 3$"):
        target_from_dict({3: "x"})  # type: ignore[dict-item]
    standalone = {**load_target("bitmod").to_document(), "buffers": {}}  # `extends:` would merge {} away
    with pytest.raises(TargetError, match=r"^<dict>: buffers: must name at least one on-chip buffer$"):
        target_from_dict(standalone)


def test_deeply_nested_input_is_an_error_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # libyaml's own composer recurses in C and would take the interpreter down here
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "deep.yaml", "name: x\ndescription: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert error_of("deep.yaml") == "deep.yaml: invalid YAML: nested too deeply"
