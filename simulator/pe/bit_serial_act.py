"""Stripes: bit-serial activations against bit-parallel weights (Judd et al.,
MICRO 2016; FACTS §4).

Each of the `dot_product_width` lanes ANDs one activation bit with a whole weight
and adds the result, shifted by the bit's significance, so a step of d products
takes ceil(p_a / bits_per_cycle) cycles for p_a-bit activations (the sign bit's
product is subtracted). A bit-parallel engine of equal width, one 16-bit MAC per 16
such lanes, needs 16 cycles for the same d products, hence the ideal speedup
16/p_a. Accepts integer activations and integer weights (an integer QuantSpec, or
an integer array such as Stripes' 16-bit weights).

Timing of a chunk of k: total = ceil(k / d) * ceil(p_a / bits_per_cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.simulator.pe.base import DotChunk, PETiming
from bitsmith.simulator.pe.serial_integer import SerialIntegerPE


@dataclass(frozen=True)
class StripesTiming(PETiming):
    """`serial_cycles`: lanes busy with activation-bit x weight products."""

    serial_cycles: int


class StripesPE(SerialIntegerPE):
    kind = "bit_serial_act"

    def timing(self, chunk: DotChunk) -> StripesTiming:
        cycles = self.steps(chunk.k) * self.passes(chunk.act_bits)
        return StripesTiming(total_cycles=cycles, serial_cycles=cycles)

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        return {"pe_cycle": self.timing(chunk).total_cycles, "serial_product": chunk.k * self.passes(chunk.act_bits)}

    def digit_bits(self) -> tuple[int | None, int | None]:
        return self.bits_per_cycle, None
