"""Bit Fusion: 2-bit BitBricks fused spatially (Sharma et al., ISCA 2018; FACTS §4,
`hsharma35/bitfusion` simulator).

A fusion unit of (fused/brick)^2 bricks multiplies one fused_bits x fused_bits pair
per cycle, or splits into several narrower products: products per cycle =
floor(fused/max(p_a, brick)) * floor(fused/max(p_w, brick))
(`Fusion.products_per_cycle`: 1 at 8x8 bits, 4 at 4x4, 16 at 2x2 with 2-bit bricks
fused to 8). Values: both operands split into brick-wide slices (the top one
signed), every slice pair multiplied and shifted into place. Accepts integer
activations and weights of at most `fused_bits` bits.

Timing of a chunk of k: total = ceil(k / (d * products_per_cycle)), the simulator's
ceil(Cin k^2 / (N perf)) for one unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.simulator.pe.base import DotChunk, PETiming, ceil_div
from bitsmith.simulator.pe.serial_integer import SerialIntegerPE
from bitsmith.targets.accelerator import Fusion


@dataclass(frozen=True)
class BitFusionTiming(PETiming):
    """`fused_cycles`: the fusion unit busy; `products_per_cycle`: its fused rate."""

    fused_cycles: int
    products_per_cycle: int


class BitFusionPE(SerialIntegerPE):
    kind = "bit_fusion"

    @property
    def fusion(self) -> Fusion:
        assert self.pe_array.fusion is not None  # guaranteed by target validation for pe "bit_fusion"
        return self.pe_array.fusion

    def check_widths(self, act_bits: int, weight_bits: int) -> None:
        if max(act_bits, weight_bits) > self.fusion.fused_bits:
            raise self.unsupported(f"{act_bits}-bit activations x {weight_bits}-bit weights",
                                   f"its bricks fuse up to {self.fusion.fused_bits} bits")

    def timing(self, chunk: DotChunk) -> BitFusionTiming:
        self.check_widths(chunk.act_bits, chunk.weight_bits)
        rate = self.fusion.products_per_cycle(chunk.weight_bits, chunk.act_bits)
        cycles = ceil_div(chunk.k, self.dot_product_width * rate)
        return BitFusionTiming(total_cycles=cycles, fused_cycles=cycles, products_per_cycle=rate)

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        brick = self.fusion.brick_bits
        bricks = ceil_div(chunk.act_bits, brick) * ceil_div(chunk.weight_bits, brick)
        return {"pe_cycle": self.timing(chunk).total_cycles, "brick_product": chunk.k * bricks}

    def digit_bits(self) -> tuple[int | None, int | None]:
        return self.fusion.brick_bits, self.fusion.brick_bits
