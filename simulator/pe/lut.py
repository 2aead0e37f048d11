"""Lookup-table PE: LUT Tensor Core's elongated tile and T-MAC's table kernels
(FACTS §3.1 algorithm, §3.2 LUT Tensor Core RTL, §5 LUT-GEMM).

Weights are written in binary coding, w = sum_b alpha_b * s_b + offset with
s_b in {-1, +1} (`decompose.binary_coding_from_int/uint`): alpha_b = 2^(b-1), so
combining planes is a shift (LUT Tensor Core adds b to the exponent). For each
`lut.group` g activations a table holds T[i] = sum_j (2*bit_j(i) - 1) * x_j; a
symmetric table stores the 2^(g-1) entries whose top index bit is 0 and reads
T[i] = -T[~i] for the rest (the RTL's sign flip). Each weight bit-plane of g
weights is then one table read; the offset term is offset * sum_j x_j, read from
the table too (the all-ones index).

Timing of a chunk of k weights (target: `dot_product_width` d, `lut.group` g,
`bits_per_cycle` b planes per cycle):

- steps = ceil(k / d); each step reads d/g tables per plane;
- lookups: L = ceil(w_bits / b) cycles per step (one plane per cycle: cycles per
  M2 N64 K4 tile = weight bits, §3.2); the shift-and-accumulate of the plane's
  result happens in the same cycle;
- table precompute: P = ceil((d/g) / tables_per_cycle) cycles per step.
  Shared (LUT Tensor Core: one builder per activation row, broadcast to the
  `pe_array.rows` PEs of the tile's columns): it builds step s+1's table while the
  PEs look up step s, so total = P + sum_{s>=1} max(P, L) + L (overlap.py; P + steps*L
  when P <= L). Not shared (each PE builds its own tables, as a per-column kernel
  does): the PE builds, then looks up, total = steps * (P + L).

Whether the builder is shared and `tables_per_cycle` come from the target's
`lut.shared_builder` and `lut.tables_per_cycle` (`pe_model`); the defaults here
(shared, 1: one table, all its entries in parallel adders, per cycle) are the
schema's.

Values are float64: table entries are not rounded to `lut.entry_format` (FP16 in
the RTL), so integer operands give exact results and float operands differ from a
float64 reference by summation order only.
Accepts: one integer format per tile (signed, symmetric, ternary, or unsigned with
a zero point) or an integer array, at most the target's widest weight format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitsmith.ir.formats.decompose import binary_coding_from_int, binary_coding_from_uint
from bitsmith.simulator.pe.base import DotChunk, PEModel, PETiming, WeightOperand, ceil_div
from bitsmith.simulator.pe.operands import IntegerWeights, check_tile, sum_groups
from bitsmith.simulator.pe.overlap import PEStages
from bitsmith.targets.accelerator import Dequant, PEArray


@dataclass(frozen=True)
class LUTTiming(PETiming):
    """`table_build_cycles`: table precompute busy (a shared builder's, when
    shared); `lookup_cycles`: table reads, one plane per cycle; `combine_cycles`:
    shift-and-accumulate of plane results; `fill_cycles`: building the first table
    before any lookup (shared builder); `stall_cycles`: lookups waiting for a later
    table. Shared: total = fill + lookup + stall; not shared: build + lookup."""

    table_build_cycles: int
    lookup_cycles: int
    combine_cycles: int
    fill_cycles: int
    stall_cycles: int


@dataclass(frozen=True, eq=False)
class BinaryCoded:
    """Weights `[N, G, L]` in binary coding: `planes [B, N, G, L]` of +-1, one alpha
    per plane, and the offset per row and group (zero point folded in)."""

    planes: np.ndarray
    alphas: np.ndarray
    offsets: np.ndarray

    def values(self) -> np.ndarray:
        shape = (-1,) + (1,) * (self.planes.ndim - 1)
        return (self.alphas.reshape(shape) * self.planes).sum(axis=0) + self.offsets[:, :, np.newaxis]


class LUTPE(PEModel):
    kind = "lut"

    def __init__(self, pe_array: PEArray, *, dequant: Dequant | None = None, weight_formats: Sequence[str] = (),
                 act_formats: Sequence[str] = (), shared_precompute: bool = True, tables_per_cycle: int = 1) -> None:
        super().__init__(pe_array, dequant=dequant, weight_formats=weight_formats, act_formats=act_formats)
        assert pe_array.lut is not None  # guaranteed by target validation for pe "lut"
        self.group = pe_array.lut.group
        self.symmetric = pe_array.lut.symmetric
        self.entries = pe_array.lut.table_entries
        self.shared_precompute = shared_precompute
        self.tables_per_cycle = tables_per_cycle
        # PEs reading one activation row's tables: the array's rows run along N.
        self.sharers = pe_array.rows if shared_precompute else 1

    def stages(self, chunk: DotChunk) -> PEStages:
        """One item per step: its table build P, then its lookups L, overlapped
        only with a shared builder (module docstring)."""
        steps = self.steps(chunk.k)
        build = ceil_div(self.dot_product_width // self.group, self.tables_per_cycle)
        return PEStages(np.full(steps, build, dtype=np.int64),
                        np.full(steps, self.passes(chunk.weight_bits), dtype=np.int64),
                        self.shared_precompute, ("table_build",), ("lookup", "combine"))

    def timing(self, chunk: DotChunk) -> LUTTiming:
        s = self.stages(chunk).schedule()
        return LUTTiming(total_cycles=s.total_cycles, table_build_cycles=s.first_busy_cycles,
                         lookup_cycles=s.second_busy_cycles, combine_cycles=s.second_busy_cycles,
                         fill_cycles=s.head_cycles if self.shared_precompute else 0,
                         stall_cycles=s.second_starve_cycles)

    def actions(self, chunk: DotChunk) -> dict[str, float]:
        tables = self.steps(chunk.k) * (self.dot_product_width // self.group)
        reads = tables * chunk.weight_bits
        return {"pe_cycle": self.timing(chunk).total_cycles, "table_build": tables / self.sharers,
                "table_entry_write": tables * self.entries / self.sharers, "table_read": reads,
                "accumulate": reads, "offset_add": tables}

    def binary_code(self, weights: IntegerWeights) -> BinaryCoded:
        """The weights' bit-planes as the lookups use them."""
        if self.max_weight_bits is not None and weights.bits > self.max_weight_bits:
            raise self.unsupported(f"{weights.bits}-bit weights",
                                   f"the target's weight formats are at most {self.max_weight_bits} bits")
        code = binary_coding_from_int if weights.signed else binary_coding_from_uint
        planes, alphas, offset = code(weights.raw, weights.bits)
        offsets = np.full(weights.raw.shape[:2], offset)
        if weights.zero_points is not None:
            offsets = offsets - weights.zero_points
        return BinaryCoded(planes, alphas, offsets)

    def tables(self, x_groups: np.ndarray) -> np.ndarray:
        """Stored tables `[..., entries]` of activations grouped `[..., g]`: entry i
        is sum_j (2*bit_j(i) - 1) * x_j (a symmetric table keeps i < 2^(g-1))."""
        index_bits = (np.arange(self.entries)[:, np.newaxis] >> np.arange(self.group)) & 1
        return x_groups @ (2.0 * index_bits - 1).T

    def lookup(self, tables: np.ndarray, index: np.ndarray) -> np.ndarray:
        """T[index] for tables `[M, KG, E]` and indices `[N, KG]` -> `[M, N, KG]`;
        a symmetric table reads -T[~index] where the index's top bit is set."""
        columns = np.arange(index.shape[1])
        if not self.symmetric:
            return tables[:, columns, index]
        top = self.entries  # the index bit a symmetric table leaves out
        flipped = (index & top) != 0
        address = np.where(flipped, (top - 1) - (index & (top - 1)), index)
        values = tables[:, columns, address]
        return np.where(flipped, -values, values)

    def compute(self, x: np.ndarray, weights: WeightOperand) -> np.ndarray:
        integer = IntegerWeights.from_operand(weights, self.kind)
        coded = self.binary_code(integer)
        n, groups, length = integer.raw.shape
        x = np.asarray(x, dtype=np.float64)
        check_tile(x, groups * length, self.kind)
        g = self.group
        if groups > 1 and length % g:
            raise self.unsupported(f"groups of {length} weights", f"a table covers {g} and must not span two groups")
        padded = ceil_div(length, g) * g  # one group per row when padding: zero activations add nothing
        m = x.shape[0]
        x_pad = np.zeros((m, groups, padded))
        x_pad[:, :, :length] = x.reshape(m, groups, length)
        tables = self.tables(x_pad.reshape(m, -1, g))  # [M, KG, E]
        planes = np.ones(coded.planes.shape[:3] + (padded,), dtype=np.int64)
        planes[..., :length] = coded.planes
        index = (((planes + 1) // 2).reshape(len(planes), n, -1, g) << np.arange(g)).sum(axis=-1)  # [B, N, KG]
        partial = np.zeros((m, n, groups))
        for b, alpha in enumerate(coded.alphas):  # one plane per cycle, combined by a shift
            partial += alpha * self.lookup(tables, index[b]).reshape(m, n, groups, -1).sum(axis=-1)
        all_ones = np.full((1, tables.shape[1]), (1 << g) - 1)
        x_sums = self.lookup(tables, all_ones).reshape(m, groups, -1).sum(axis=-1)  # sum of x per group
        partial += coded.offsets[np.newaxis] * x_sums[:, np.newaxis, :]
        return sum_groups(partial, integer.scales)
