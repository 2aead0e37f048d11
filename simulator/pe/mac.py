"""Bit-parallel multiply-accumulate PE: the FP16 baseline, ANT/OliVe's FP16xINT8 PE
and TPU-like INT8 MACs (FACTS §1.3, §2).

Each of the `dot_product_width` lanes completes one multiply-accumulate per cycle
whatever the operand widths: narrower weights only save memory traffic, as BitMoD's
simulator models ANT and OliVe (FACTS §2). Values: weights are dequantised first
(`QuantSpec.dequantize()`, OliVe outliers included) and multiplied as they are;
integer activations against integer-array weights stay exact in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.simulator.pe.base import DotChunk, PEModel, PETiming, WeightOperand
from bitsmith.simulator.pe.operands import check_tile


@dataclass(frozen=True)
class MACTiming(PETiming):
    """`mac_cycles`: dot-product steps, one per cycle."""

    mac_cycles: int


class MACPE(PEModel):
    kind = "mac"

    def timing(self, chunk: DotChunk) -> MACTiming:
        steps = self.steps(chunk.k)
        return MACTiming(total_cycles=steps, mac_cycles=steps)

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        return {"pe_cycle": self.timing(chunk).total_cycles, "mac": chunk.k}

    def compute(self, x: np.ndarray, weights: WeightOperand) -> np.ndarray:
        w = weights.dequantize() if isinstance(weights, QuantSpec) else np.asarray(weights)
        if w.ndim != 2:
            raise self.unsupported(f"weights of shape {list(w.shape)}", "they must be [N, K]")
        x = np.asarray(x)
        check_tile(x, w.shape[1], self.kind)
        if np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer):
            return x.astype(np.int64) @ w.astype(np.int64).T
        return x.astype(np.float64) @ w.astype(np.float64).T
