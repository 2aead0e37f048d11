"""Energy and area against hand computation and FACTS §1.3-1.4 figures."""

from __future__ import annotations

import pytest

from bitsmith.simulator.area import target_area
from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.energy import layer_energy
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.problem import LayerResult
from bitsmith.targets import load_target

BITMOD = load_target("bitmod")


def result(**fields) -> LayerResult:
    return LayerResult(name="gemm", op="linear", cycles=1200, **fields)


def test_bitmod_energy_by_hand() -> None:
    layer = result(busy_cycles={"array": 1000, "dram": 400}, dram_bytes=100.0,
                   actions={"sram_read:weight": 0, "pe_cycle": 1024 * 1000})
    energy = layer_energy(layer, BITMOD)
    # FACTS §1.4: 1.5 x 0.56 pJ x 1024 PEs x 1000 compute cycles; DRAM 100 B x 8 x 18.75 pJ/bit
    assert energy.components["pe_array"] == pytest.approx(1.5 * 0.56 * 1024 * 1000)
    assert energy.components["dram"] == pytest.approx(100 * 8 * 18.75)
    assert energy.components["sram_read:weight"] == 0.0  # no accesses: nothing to charge, known or not
    assert energy.components["vector"] == 0.0
    assert energy.complete and energy.total == pytest.approx(860_160 + 15_000)


def test_unstated_energies_are_unknown_not_zero() -> None:
    layer = result(busy_cycles={"array": 10}, actions={"sram_read:weight": 5, "sram_write:input": 2, "vector_op": 7})
    energy = layer_energy(layer, BITMOD)  # BitMoD's buffer energies came from CACTI, unpublished
    assert set(energy.unknown) == {"sram_read:weight", "sram_write:input", "vector"}
    assert energy.total == pytest.approx(1.5 * 0.56 * 1024 * 10)  # the known part: a lower bound
    assert energy.describe("pJ").startswith("≥ ")
    no_pe_figures = layer_energy(layer, load_target("lut_tensor_core"))
    assert no_pe_figures.components["pe_array"] is None


def test_stated_buffer_energies_are_charged_per_access() -> None:
    target = BITMOD.override({"buffers.weight.read_energy_per_access": "12.5pJ",
                              "buffers.input.write_energy_per_access": "3pJ"})
    energy = layer_energy(result(actions={"sram_read:weight": 4, "sram_write:input": 10}), target)
    assert energy.components["sram_read:weight"] == pytest.approx(50.0)
    assert energy.components["sram_write:input"] == pytest.approx(30.0)


def test_an_action_on_a_buffer_the_target_lacks_is_an_error() -> None:
    with pytest.raises(SimulationError, match="names no buffer of target bitmod"):
        layer_energy(result(actions={"sram_read:scratch": 1}), BITMOD)


def test_breakdowns_combine_unknown_wins() -> None:
    total = Breakdown.combine([Breakdown({"a": 1.0, "b": 2.0}), Breakdown({"a": 3.0, "b": None, "c": 4.0})])
    assert dict(total.components) == {"a": 4.0, "b": None, "c": 4.0}
    assert total.total == 8.0 and total.unknown == ("b",)


def test_area_from_components() -> None:
    area = target_area(BITMOD)
    # FACTS §1.3: 1024 x 1507.7 um2 = 1.544 mm2 before place-and-route, x1.5 after
    assert area.pe_array_synthesis_mm2 == pytest.approx(1024 * 1507.7e-6)
    assert area.pe_array_synthesis_mm2 == pytest.approx(1.544, abs=5e-4)
    assert area.breakdown.components["pe_array"] == pytest.approx(1.5 * 1024 * 1507.7e-6)
    assert set(area.breakdown.unknown) == {"buffer:weight", "buffer:input"}
    assert target_area(load_target("fp16_mac")).pe_array_synthesis_mm2 == pytest.approx(1.51, abs=5e-3)
    stated = target_area(BITMOD.override({"buffers.weight.area": "0.5mm2", "buffers.input.area": "250000um2"}))
    assert stated.breakdown.complete and stated.breakdown.total == pytest.approx(1.5 * 1.5438848 + 0.75)
