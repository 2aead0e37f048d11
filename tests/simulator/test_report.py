"""SimReport: totals from layers, JSON round trip, the printed table, plots."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bitsmith.simulator.area import target_area
from bitsmith.simulator.problem import GemmProblem, LayerResult, VectorProblem
from bitsmith.simulator.report import SimReport
from bitsmith.simulator.simulate import layer_report
from bitsmith.targets import load_target

BITMOD = load_target("bitmod")


def hand_report() -> SimReport:
    gemm = GemmProblem("fc", "linear", M=16, N=64, K=64, weight_format="int8", weight_bits=8,
                       weight_bits_per_element=8.25)
    vector = VectorProblem("relu", "relu", elements=1024, ops_per_element=1, input_bytes=2048, output_bytes=2048)
    gemm_result = LayerResult("fc", "linear", cycles=300, busy_cycles={"array": 256, "dram": 300},
                              stall_cycles={"dram": 44}, actions={"pe_cycle": 262144.0, "sram_read:weight": 64.0},
                              dram_bytes=6528.0, sram_bytes={"weight": 4224.0, "input": 2048.0}, macs=65536,
                              utilisation=0.25, mapping="M16 N64 K64")
    vector_result = LayerResult("relu", "relu", cycles=100, busy_cycles={"vector": 64, "dram": 100},
                                actions={"vector_op": 1024.0}, dram_bytes=4096.0, sram_bytes={"input": 4096.0})
    layers = (layer_report(gemm, gemm_result, BITMOD), layer_report(vector, vector_result, BITMOD))
    return SimReport("toy", "bitmod", "prefill", "fast", BITMOD.clock_hz, BITMOD.dram_bytes_per_cycle, layers,
                     target_area(BITMOD))


def test_totals_by_hand() -> None:
    report = hand_report()
    assert report.cycles == 400 and report.latency_s == pytest.approx(400e-9)  # 1 GHz
    assert report.macs == 65536
    assert report.utilisation == pytest.approx(0.25)  # only GEMM layers count
    assert report.dram_bytes == 6528 + 4096
    assert report.sram_bytes == {"weight": 4224.0, "input": 6144.0}
    # compute roof: 1024 PEs x 4 lanes / ceil(8 bits / 2 per cycle) passes
    assert report.layer("fc").peak_macs_per_cycle == 1024 * 4 / 4
    assert report.layer("relu").peak_macs_per_cycle is None
    energy = report.energy
    assert energy.components["pe_array"] == pytest.approx(1.5 * 0.56 * 1024 * 256)
    assert energy.components["dram"] == pytest.approx((6528 + 4096) * 8 * 18.75)
    assert set(energy.unknown) == {"sram_read:weight", "vector"}


def test_json_round_trip() -> None:
    report = hand_report()
    again = SimReport.from_json(report.to_json())
    assert again == report
    assert again.to_json() == report.to_json()


def test_printed_table_and_totals() -> None:
    buffer = io.StringIO()
    hand_report().print(Console(file=buffer, width=160))
    text = buffer.getvalue()
    assert "fc" in text and "M16 N64 K64" in text and "relu" in text
    assert "cycles: 400" in text
    assert "energy: ≥" in text and "unknown: sram_read:weight, vector" in text
    assert "1.544 mm²" in text  # the PE array before place-and-route


def test_plots_are_written(tmp_path: Path) -> None:
    paths = hand_report().plot(tmp_path / "plots")
    assert [p.name for p in paths] == ["cycles.png", "energy.png", "roofline.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
