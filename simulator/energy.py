"""Energy of a layer: the engine's action counts times the target's energy per
action (DESIGN §6), by component, as BitMoD's simulator charges it (FACTS §1.4):

- `pe_array`: every PE, every cycle the array computes, at the placed energy per
  PE-cycle (`pe_energy_per_cycle` x `pnr_factor`): pe_count x busy_cycles["array"]
  x placed_pe_energy_pj ("all PEs charged every compute cycle");
- `sram_read:<buffer>` / `sram_write:<buffer>`: accesses of one port width (the
  engine's actions) x that buffer's read/write energy per access;
- `dram`: bits moved x `dram.energy_per_bit` (18.75 pJ/bit on BitMoD's memory);
- `vector`: vector-unit operations; no target states an energy per operation, so
  it is unknown whenever a layer performs any.

A component whose count is zero costs 0 even when its energy is unstated; a
non-zero count against an unstated energy is unknown (None). Leakage is not
modelled: no target states it.
"""

from __future__ import annotations

from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.problem import LayerResult
from bitsmith.targets.accelerator import Accelerator

SRAM_ACTIONS = {"sram_read": "read_energy_per_access", "sram_write": "write_energy_per_access"}


def _charge(count: float, energy_pj: float | None) -> float | None:
    if count == 0:
        return 0.0
    return None if energy_pj is None else count * energy_pj


def layer_energy(result: LayerResult, target: Accelerator) -> Breakdown:
    """Energy of one layer in pJ, by component (module docstring)."""
    pe_cycles = target.pe_array.pe_count * result.busy_cycles.get("array", 0)
    components: dict[str, float | None] = {
        "pe_array": _charge(pe_cycles, target.pe_array.placed_pe_energy_pj),
    }
    for action, count in sorted(result.actions.items()):
        kind, _, buffer = action.partition(":")
        if kind not in SRAM_ACTIONS:
            continue
        if buffer not in target.buffers:
            raise SimulationError(f"layer {result.name}: action {action} names no buffer of target {target.name} "
                                  f"({', '.join(target.buffers)})")
        energy = getattr(target.buffers[buffer], SRAM_ACTIONS[kind])
        components[action] = _charge(count, None if energy is None else energy.to("pJ"))
    components["dram"] = _charge(result.dram_bytes * 8, target.dram_pj_per_bit)
    components["vector"] = _charge(result.actions.get("vector_op", 0), None)
    return Breakdown(components)
