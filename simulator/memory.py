"""Where each GEMM operand lives on chip, how much of it fits, and what moving it costs.

Operands and buffers. A GEMM has three operands: `weight` (K x N), `input`
(M x K) and `output` (M x N, partial sums while its K loop runs). Each lives in
the first buffer of the target whose name is in its list below; an operand with
no buffer of its own shares the `input` operand's (fp16_mac's "input" SRAM holds
outputs too), and a target with none of these names puts everything in its first
buffer. Operands sharing a buffer split it equally (`share_bytes`).

Double buffering. Each operand's share is split in two halves: a block being
computed on and the next block being loaded. So a block fits when its bytes are at
most half the share; an operand whose whole per-GEMM extent fits in one half stays
resident for that GEMM (each block is loaded once, on first use).

Sizes. A block of e elements of b bits (b may be fractional: stored bits per
weight with scales, 6.0625) is ceil(e*b/8) bytes; a DRAM transfer of n bytes takes
ceil(n / dram_bytes_per_cycle) cycles; a buffer access moves one port width, so
moving n bits takes ceil(n / port_bits) accesses, none counted where the target
leaves the port width unknown. The port width is the phase's where the buffer
states one per phase (a reshaped array streams a different number of bits per
cycle), the buffer's own otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bitsmith.targets.accelerator import Accelerator

OPERANDS = ("weight", "input", "output")
# Buffer names, most specific first, that hold each operand (shipped targets: weight/input/output,
# the TPU's weight_fifo/unified_buffer/accumulators).
OPERAND_BUFFERS: dict[str, tuple[str, ...]] = {
    "weight": ("weight", "weight_fifo"),
    "input": ("input", "unified_buffer"),
    "output": ("output", "accumulators"),
}


def ceil_bytes(elements: int | np.ndarray, bits: float) -> int | np.ndarray:
    """Bytes holding `elements` elements of `bits` bits each (rounded up)."""
    if isinstance(elements, np.ndarray):
        return np.ceil(elements * bits / 8).astype(np.int64)
    return math.ceil(elements * bits / 8)


@dataclass(frozen=True)
class OperandBuffers:
    """Which buffer holds each operand, the bytes of its share, and the buffer port
    widths in bits (0 where the target does not state one)."""

    buffer: dict[str, str]
    share_bytes: dict[str, int]
    port_bits: dict[str, int]

    @classmethod
    def of(cls, target: Accelerator, phase: str | None = None) -> OperandBuffers:
        """The operands' buffers on `target`, with the port widths of `phase`
        (`Buffer.port_bits`: a buffer may state one per phase of the array)."""
        names = list(target.buffers)
        default = names[0]
        buffer: dict[str, str] = {}
        for operand in ("weight", "input"):
            buffer[operand] = next((n for n in OPERAND_BUFFERS[operand] if n in target.buffers), default)
        buffer["output"] = next((n for n in OPERAND_BUFFERS["output"] if n in target.buffers), buffer["input"])
        sharers = {name: list(buffer.values()).count(name) for name in set(buffer.values())}
        share = {op: target.buffers[name].bytes // sharers[name] for op, name in buffer.items()}
        ports = {name: b.port_bits(phase) or 0 for name, b in target.buffers.items()}
        return cls(buffer, share, ports)

    def half(self, operand: str) -> int:
        """Bytes one double-buffer half of `operand`'s share holds."""
        return self.share_bytes[operand] // 2

    def port(self, operand: str) -> int:
        """Port width in bits of `operand`'s buffer (0: unknown)."""
        return self.port_bits[self.buffer[operand]]


def accesses(bits: int | np.ndarray, port_bits: int) -> int | np.ndarray:
    """Port-width accesses moving `bits` bits (0 when the port width is unknown)."""
    if port_bits <= 0:
        return bits * 0
    return -(-bits // port_bits)


def transfer_cycles(nbytes: int | np.ndarray, bytes_per_cycle: float) -> np.ndarray:
    """Cycles of the one DRAM channel moving `nbytes` bytes: ceil(n / B)."""
    return np.ceil(np.asarray(nbytes, dtype=np.float64) / bytes_per_cycle).astype(np.int64)
