"""Loom: bit-serial weights and activations (Sharify et al., DAC 2018, arXiv
1706.07853; FACTS §4).

Each lane multiplies `bits_per_cycle`-bit slices of one activation and one weight
per cycle, so a step of d products walks every (activation pass, weight pass) pair:
ceil(p_a / b) * ceil(p_w / b) cycles, ideal speedup 256/(p_a p_w) over an equally
provisioned 16b x 16b engine for convolutions. A layer whose weights are used once
(a fully-connected layer, `DotChunk.weight_reuse=False`) gives Loom no reuse to
amortise the serial activation transposition, so it walks the full activation width
the target provides (its widest activation format, 16 bits): ceil(A / b) *
ceil(p_w / b) cycles per step, ideal speedup 16/p_w. Accepts integer activations
and weights.

Timing of a chunk of k: total = ceil(k / d) * passes(p_a or A) * passes(p_w).
"""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.simulator.pe.base import DotChunk, PETiming
from bitsmith.simulator.pe.serial_integer import SerialIntegerPE


@dataclass(frozen=True)
class LoomTiming(PETiming):
    """`serial_cycles`: lanes busy with activation-slice x weight-slice products;
    `act_passes`, `weight_passes`: serial passes per step over each operand."""

    serial_cycles: int
    act_passes: int
    weight_passes: int


class LoomPE(SerialIntegerPE):
    kind = "bit_serial_both"

    def timing(self, chunk: DotChunk) -> LoomTiming:
        act_bits = chunk.act_bits
        if not chunk.weight_reuse:
            if self.max_act_bits is None:
                raise self.unsupported("layers without weight reuse",
                                       "the target names no activation formats to take their full width from")
            act_bits = self.max_act_bits
        act_passes, weight_passes = self.passes(act_bits), self.passes(chunk.weight_bits)
        cycles = self.steps(chunk.k) * act_passes * weight_passes
        return LoomTiming(total_cycles=cycles, serial_cycles=cycles, act_passes=act_passes, weight_passes=weight_passes)

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        timing = self.timing(chunk)
        return {"pe_cycle": timing.total_cycles, "serial_product": chunk.k * timing.act_passes * timing.weight_passes}

    def digit_bits(self) -> tuple[int | None, int | None]:
        return self.bits_per_cycle, self.bits_per_cycle
