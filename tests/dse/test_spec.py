"""dse.yaml is checked like a target file: one line naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsmith.dse import Space, SweepError, load_sweep
from dse_sweeps import SMALL_SWEEP


def _load(tmp_path: Path, text: str):
    path = tmp_path / "dse.yaml"
    path.write_text(text)
    return load_sweep(path)


def test_small_sweep_has_the_product_of_its_axes(small_sweep: Path) -> None:
    space = Space(load_sweep(small_sweep))
    assert [axis.name for axis in space.axes] == ["pe_array.rows", "pe_array.cols", "dram.bandwidth", "formats",
                                                  "group_size", "bit_budget"]
    assert space.size == 3 * 2 * 2 * 3 * 2 * 2


@pytest.mark.parametrize("old, new, expected", [
    ("  pe_array.cols: [8, 16]", "  pe_array.colz: [8, 16]", "dse.yaml:5: hardware.pe_array.colz: not a field"),
    ("  pe_array.cols: [8, 16]", "  pe_array.cols: [8, -16]", "dse.yaml:5: hardware.pe_array.cols[1]: pe_array.cols: must be a positive"),
    ("objectives: [latency, energy, accuracy]", "objectives: [latency, speed]", "dse.yaml:13: objectives[1]: must be one of"),
    ("  - {model: mlp}", "  - {model: mlp, phase: both}", "dse.yaml:12: workloads[0].phase: must be one of"),
    ("  group_size: [32, null]", "  group_size: [32, 0]", "dse.yaml:9: quantisation.group_size[1]: must be a positive"),
    ("name: mlp_small", "name: mlp_small\nspeed: 3", "dse.yaml:2: speed: unknown field"),
    ("  formats: [[int8], [int4, int8], [bitmod4, int8]]", "  formats: [[int8], [int77]]", "dse.yaml:8: quantisation.formats[1][0]: unknown format"),
    ("  dram.bandwidth: [16B/cycle, 32B/cycle]", "  formats.weights: [[int4]]", "dse.yaml:6: hardware.formats.weights: weight formats"),
    ("base: bitmod", "base: nosuch", "dse.yaml:2: base: unknown target 'nosuch'"),
    ("name: mlp_small", "name: mlp_small\nname: again", "dse.yaml:2: name: duplicate key"),
])
def test_bad_sweeps_name_file_line_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in SMALL_SWEEP
    with pytest.raises(SweepError) as raised:
        _load(tmp_path, SMALL_SWEEP.replace(old, new))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / expected.split(":")[0]) + ":" + expected.split(":", 1)[1].split(":")[0])
    assert expected.split(": ", 1)[1] in message


def test_point_hash_covers_the_configuration_and_version(small_sweep: Path) -> None:
    space = Space(load_sweep(small_sweep))
    first, second = (space.config(g) for g in list(space.grid())[:2])
    assert space.point_hash(first) == space.point_hash(dict(reversed(first.items())))
    assert space.point_hash(first) != space.point_hash(second)
    assert space.context["version"]
