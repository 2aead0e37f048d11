"""Shared arithmetic of the integer bit-serial PEs: Stripes, Loom and Bit Fusion
(FACTS §4).

All three multiply integers by splitting an operand into digits of a few bits and
adding the digit products shifted by their significance: Stripes walks activation
bits (1-bit digits) against whole weights, Loom walks both operands' bits, Bit
Fusion splits both into 2-bit BitBrick slices that it multiplies side by side. A
digit split of a two's-complement value is its bit-planes (`twos_complement_planes`)
read `digit_bits` at a time: every digit is unsigned but the top one, which carries
the sign bit's negative weight, so value = sum_i digit_i * 2^(i * digit_bits).

Each subclass says how wide its digits are; the values come out exact in int64
(times the weights' group scales, in float64, when the weights carry scales).
Operand widths in `compute` are the narrowest holding the data, the precision a
per-layer profiler picks; `timing` takes the widths the caller states.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from bitsmith.ir.formats.decompose import twos_complement_planes
from bitsmith.simulator.pe.base import PEModel, WeightOperand, ceil_div
from bitsmith.simulator.pe.operands import IntegerWeights, check_tile, integer_activations, signed_width, sum_groups


def signed_digits(values: np.ndarray, digit_bits: int) -> np.ndarray:
    """`values` (int64) as digits `[n, *values.shape]` of `digit_bits` bits, the top
    one signed, n = ceil(width / digit_bits) for the narrowest width holding them."""
    count = ceil_div(signed_width(values), digit_bits)
    planes = twos_complement_planes(values, count * digit_bits).astype(np.int64)
    place = np.int64(1) << (np.arange(count * digit_bits) % digit_bits)
    place[-1] = -place[-1]
    weighted = planes * place.reshape((-1,) + (1,) * values.ndim)
    return weighted.reshape((count, digit_bits) + values.shape).sum(axis=1)


def digit_products(x_digits: np.ndarray, x_digit_bits: int, w_digits: np.ndarray, w_digit_bits: int) -> np.ndarray:
    """Per-group sums `[M, N, G]` of digit products: activation digits `[A, M, G, L]`
    times weight digits `[B, N, G, L]`, each pair shifted by its significance."""
    partial = np.zeros((x_digits.shape[1], w_digits.shape[1], x_digits.shape[2]), dtype=np.int64)
    for a, x_digit in enumerate(x_digits):
        for b, w_digit in enumerate(w_digits):
            partial += np.einsum("mgl,ngl->mng", x_digit, w_digit) << (a * x_digit_bits + b * w_digit_bits)
    return partial


class SerialIntegerPE(PEModel):
    """An integer PE that multiplies by digit products (see the module docstring)."""

    @abstractmethod
    def digit_bits(self) -> tuple[int | None, int | None]:
        """Digit widths (activations, weights); None takes that operand whole."""

    def check_widths(self, act_bits: int, weight_bits: int) -> None:
        """Raise for operands the datapath cannot take (none by default)."""

    def compute(self, x: np.ndarray, weights: WeightOperand) -> np.ndarray:
        integer = IntegerWeights.from_operand(weights, self.kind)
        n, groups, length = integer.raw.shape
        x = integer_activations(x, self.kind)
        check_tile(x, groups * length, self.kind)
        x = x.reshape(x.shape[0], groups, length)
        w = integer.values()
        self.check_widths(signed_width(x), signed_width(w))
        act_digit, weight_digit = self.digit_bits()
        x_digits = x[np.newaxis] if act_digit is None else signed_digits(x, act_digit)
        w_digits = w[np.newaxis] if weight_digit is None else signed_digits(w, weight_digit)
        partial = digit_products(x_digits, act_digit or 0, w_digits, weight_digit or 0)
        return sum_groups(partial, integer.scales)
