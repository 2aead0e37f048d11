"""What an engine counts, and how the counts become a `LayerResult`.

Both engines fill the same vector of integer counters (`COUNTERS`) and the number
of PE chunks each program completed (summed over PEs); `gemm_result` turns them,
with the plan's fixed traffic, into a `LayerResult`. Going through integers keeps
the two engines' results identical, not merely close.

Counters (cycles, all integers):
  cycles            first start to last finish
  dram              DRAM channel busy
  array             at least one PE busy
  load_in           weight-/input-stationary: the held operand shifting into the array
  drain             output-stationary: results draining out of the array
  port_w, port_x    weight / input buffer port streaming a fold's operands
  stall_dram        array idle, waiting for a step's loads
  stall_drain       a fold ended, waiting for the drain to take its results
  stall_port        a fold's PEs done, waiting for a port stream
  pe_cycles         PE-cycles busy, summed over every PE
  pe_first, pe_second             PE (0, 0)'s stage one / two busy (it runs in every fold)
  pe_first_stall, pe_second_starve  PE (0, 0)'s stage one waiting to hand over /
                                    stage two waiting for an item (pe/overlap.PEStages)
"""

from __future__ import annotations

import numpy as np

from bitsmith.simulator.plan import Plan
from bitsmith.simulator.problem import LayerResult

COUNTERS = ("cycles", "dram", "array", "load_in", "drain", "port_w", "port_x", "stall_dram", "stall_drain",
            "stall_port", "pe_cycles", "pe_first", "pe_second", "pe_first_stall", "pe_second_starve")
(CYCLES, DRAM, ARRAY, LOAD_IN, DRAIN, PORT_W, PORT_X, STALL_DRAM, STALL_DRAIN, STALL_PORT, PE_CYCLES, PE_FIRST,
 PE_SECOND, PE_FIRST_STALL, PE_SECOND_STARVE) = range(len(COUNTERS))

# The busy key of the array's operand movement outside the PEs: results draining
# (output-stationary) or the held operand shifting in (the stationary dataflows).
ARRAY_MOVE_UNIT = {"output_stationary": "drain", "weight_stationary": "weight_load",
                   "input_stationary": "input_load"}

# PE kinds whose waiting stage counts as a stall, and which stage that is: BitMoD's
# multiplier waiting on the dequant unit; LUT lookups waiting on the table builder.
STALLING_STAGE = {"bit_serial": 1, "lut": 2}


def gemm_result(plan: Plan, counters: np.ndarray, runs: np.ndarray) -> LayerResult:
    """The LayerResult of `plan` from an engine's `counters` and per-program `runs`."""
    c = [int(v) for v in counters]
    problem, buffers, array = plan.problem, plan.buffers, plan.array
    program = plan.programs[0]
    busy = {"dram": c[DRAM], "array": c[ARRAY]}
    busy[ARRAY_MOVE_UNIT[array.dataflow]] = c[DRAIN] + c[LOAD_IN]
    for operand, value in (("weight", c[PORT_W]), ("input", c[PORT_X])):
        if buffers.port(operand):  # a port of unknown width streams without limit
            port = f"port:{buffers.buffer[operand]}"
            busy[port] = busy.get(port, 0) + value
    stages = program.stages
    busy.update({unit: c[PE_FIRST] for unit in stages.first_units})
    busy.update({unit: c[PE_SECOND] for unit in stages.second_units})
    stalls = {"dram": c[STALL_DRAM], "drain": c[STALL_DRAIN], "sram_port": c[STALL_PORT]}
    stage = STALLING_STAGE.get(array.pe.kind)
    if stage is not None and stages.overlapped:
        cause, waiting = ((stages.second_units[0], c[PE_FIRST_STALL]) if stage == 1
                          else (stages.first_units[0], c[PE_SECOND_STARVE]))
        stalls[cause] = waiting
    actions: dict[str, float] = {"pe_cycle": float(c[PE_CYCLES])}
    for prog, count in zip(plan.programs, runs.tolist(), strict=True):
        for name, value in array.pe.actions(prog.chunk).items():
            if name != "pe_cycle":
                actions[name] = actions.get(name, 0.0) + count * value
    for key, value in plan.sram_accesses.items():
        actions[key] = float(value)
    for operand, value in (("weight", c[PORT_W]), ("input", c[PORT_X])):
        if buffers.port(operand):  # one access per port cycle; none counted for an unknown port width
            key = f"sram_read:{buffers.buffer[operand]}"
            actions[key] = actions.get(key, 0.0) + value
    dram_bytes = float(plan.load_bytes.sum() + plan.store_bytes.sum())
    actions["dram_bit"] = 8 * dram_bytes
    peak = array.pe.pe_array.macs_per_cycle(problem.weight_bits, problem.act_bits)
    return LayerResult(
        name=problem.name, op=problem.op, cycles=c[CYCLES], busy_cycles=busy, stall_cycles=stalls, actions=actions,
        dram_bytes=dram_bytes, sram_bytes=dict(plan.sram_bytes), macs=problem.macs,
        utilisation=problem.macs / (peak * c[CYCLES]) if c[CYCLES] else 0.0, mapping=str(plan.mapping))
