"""BitMoD's bit-serial PE (HPCA 2025; the DEV repository's `hardware/pe/*.v`, FACTS
§1.2, timing as BitMoD's simulator counts it, §1.4).

Datapath: the decoder turns each weight into terms (bitmod_terms.py), ~2 weight
bits each; every cycle the multiplier takes one term of each of the
`dot_product_width` weights against their (FP16) activations and the group
accumulator adds the 4-lane sum, shifted by the term's significance. When a group's
last term is in, its partial sum goes to the dequant unit, which multiplies it by
the group scale one scale bit per cycle (`acc = (acc << 1) + (psum & bit)`).

Timing of a chunk of k weights in groups of G (target: `dot_product_width` d,
`bits_per_cycle` b, `dequant.cycles_per_scale` D):

- terms per weight T = ceil(w_bits / b) (pe_latency = ceil(floor(w)/2), §1.4);
- group g's term phase A_g = ceil(len_g / d) * T cycles (multiplier and group
  accumulator busy; G must be a multiple of d, so no step spans two groups);
- overlap rule: group g's dequant (D cycles) runs while the multiplier works on
  group g+1. The accumulator hands a group over only when the dequant unit has
  finished the previous one, so when D > A_{g+1} the multiplier stalls
  D - A_{g+1} cycles; the last group's dequant drains after the last term:
  total = A_0 + sum_{g>=1} max(A_g, D) + D (overlap.py). With equal groups that is
  n*A + D when A >= D, else A + n*D.
- without a group size, or a target without a dequant unit, scales are applied
  outside the PE and total = sum A_g.

Values: the same terms times the activations, accumulated per group with the
significance shifts, then scaled: by the shift-add of the second-level scale code
(`scale_codes`, FACTS §1.1) followed by the row's float scale, or by the float
group scale when the weights have no second level. Arithmetic is float64: the
hardware's 17-bit products and small-float accumulator are not rounded to.
Accepts: signed INT-k (k <= 8) by Booth terms, FP4 E2M1, BitMoD FP3/FP4 grids and
their per-group mixtures, with one scale per group (no zero point: asymmetric INT
is an unsigned format, which the decoder has no path for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.simulator.pe.base import DotChunk, PEModel, PETiming, WeightOperand, ceil_div
from bitsmith.simulator.pe.bitmod_terms import TileTerms, code_terms, decodable, decode_tile
from bitsmith.simulator.pe.operands import GroupedWeights, check_tile
from bitsmith.simulator.pe.overlap import PEStages


@dataclass(frozen=True)
class BitSerialTiming(PETiming):
    """`term_cycles`: multiplier (exponent match + term product) busy;
    `accumulate_cycles`: group accumulator busy (one add per term step);
    `dequant_cycles`: dequant unit busy; `stall_cycles`: multiplier waiting for the
    dequant unit; `drain_cycles`: the last dequant after the last term; `groups`:
    scale groups in the chunk; `terms_per_weight`: T."""

    term_cycles: int
    accumulate_cycles: int
    dequant_cycles: int
    stall_cycles: int
    drain_cycles: int
    groups: int
    terms_per_weight: int


class BitSerialPE(PEModel):
    kind = "bit_serial"

    def stages(self, chunk: DotChunk) -> PEStages:
        """One item per scale group: its term phase A_g, then its dequant D,
        overlapped with the next group's terms (module docstring)."""
        width = self.dot_product_width
        if chunk.group_size is not None and chunk.group_size % width:
            raise self.unsupported(f"group size {chunk.group_size}",
                                   f"it must be a multiple of the dot-product width {width}")
        term_phase = ceil_div(chunk.group_lengths(), width) * self.passes(chunk.weight_bits)
        rescales = chunk.group_size is not None and self.dequant is not None
        dequant = self.dequant.cycles_per_scale if rescales else 0
        return PEStages(term_phase, np.full_like(term_phase, dequant), True, ("term", "accumulate"), ("dequant",))

    def timing(self, chunk: DotChunk) -> BitSerialTiming:
        stages = self.stages(chunk)
        schedule = stages.schedule()
        return BitSerialTiming(
            total_cycles=schedule.total_cycles, term_cycles=schedule.first_busy_cycles,
            accumulate_cycles=schedule.first_busy_cycles, dequant_cycles=schedule.second_busy_cycles,
            stall_cycles=schedule.first_stall_cycles, drain_cycles=schedule.tail_cycles,
            groups=stages.first.size, terms_per_weight=self.passes(chunk.weight_bits),
        )

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        timing = self.timing(chunk)
        return {"pe_cycle": timing.total_cycles, "term": timing.term_cycles,
                "group_accumulate": timing.accumulate_cycles, "dequant_step": timing.dequant_cycles}

    def decode(self, weights: GroupedWeights) -> TileTerms:
        """The decoder's terms for a weight tile (checked: a format it has a path
        for, in no more terms than the target's bits per cycle allow). Asymmetric
        INT is refused here too: it is stored as an unsigned format."""
        for fmt in weights.formats:
            if not decodable(fmt):
                raise self.unsupported(f"{fmt.name} weights",
                                       "the decoder has terms for signed INT, FP4 E2M1 and BitMoD FP3/FP4 grids only")
            if code_terms(fmt).n_terms > self.passes(fmt.bits):
                raise self.unsupported(f"{fmt.name} weights", f"they decode into {code_terms(fmt).n_terms} terms, "
                                       f"more than {fmt.bits} bits at {self.bits_per_cycle} per cycle allow")
        n_terms = max(self.passes(fmt.bits) for fmt in weights.formats)
        return decode_tile(weights.formats, weights.format_ids, weights.codes, n_terms)

    def compute(self, x: np.ndarray, weights: WeightOperand) -> np.ndarray:
        if not isinstance(weights, QuantSpec):
            raise self.unsupported("plain weight arrays", "it decodes quantised weight codes (give a QuantSpec)")
        grouped = GroupedWeights.from_spec(weights, self.kind)
        terms = self.decode(grouped)
        n, k = grouped.shape
        x = np.asarray(x, dtype=np.float64)
        check_tile(x, k, self.kind)
        m, groups = x.shape[0], grouped.codes.shape[1]
        x_groups = x.reshape(m, groups, -1)
        partial = np.zeros((m, n, groups))
        for t in range(terms.n_terms):  # one term per cycle, shifted by its significance
            step = np.einsum("mgl,ngl->mng", x_groups, terms.term_values[t])
            partial += step * np.ldexp(1.0, terms.significance[t])
        return self._dequantise(partial, grouped)

    def _dequantise(self, partial: np.ndarray, weights: GroupedWeights) -> np.ndarray:
        """Group sums `[M, N, G]` times their scales, summed over groups."""
        if weights.scale_codes is None:
            return np.einsum("mng,ng->mn", partial, weights.scales)
        scale_bits = weights.scale_bits
        serial = self.dequant is not None and self.dequant.mode == "bit_serial"
        if serial and scale_bits > self.dequant.cycles_per_scale:
            raise self.unsupported(f"{scale_bits}-bit scale codes",
                                   f"the dequant unit shifts {self.dequant.cycles_per_scale} scale bits")
        scaled = np.zeros_like(partial)
        for bit in reversed(range(scale_bits)):  # most significant scale bit first
            scaled = 2 * scaled + partial * ((weights.scale_codes >> bit) & 1)
        return scaled.sum(axis=2) * weights.channel_scales
