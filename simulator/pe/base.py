"""`PEModel`: what one processing element does with one dot-product chunk.

A chunk (`DotChunk`) is the reduction one PE performs for one output: `k` products
summed, taken `dot_product_width` lanes per step, with operands `weight_bits` and
`act_bits` wide, and (for PEs that rescale inside, BitMoD) a scale every
`group_size` weights. A PE model answers four questions about it:

- `stages(chunk)`: the chunk as a pipeline of at most two stages of items
  (`PEStages`, overlap.py): BitMoD's term phase per scale group feeding its
  bit-serial dequant, a LUT table build per step feeding the lookups, one item of
  the chunk's total for single-stage PEs. Two-stage PEs derive `timing` from it,
  and the trace engine steps it cycle by cycle;
- `timing(chunk)`: the cycles each unit of the PE is busy and the chunk's total,
  as a frozen `PETiming` subclass;
- `actions(chunk)`: how many times each named action happens (`pe_cycle`, `mac`,
  `term`, `table_read`, ...), which the energy model multiplies by per-action
  energies;
- `compute(x, weights)`: the outputs of a whole tile, activations `x [M, K]`
  against weights `[N, K]` (a `QuantSpec` or an integer array), by the PE's own
  arithmetic (terms, bit-planes, table lookups), returning `[M, N]`.

Every number (lanes, bits per cycle, table group, dequant cycles, fusion widths)
comes from the target's `PEArray` and `Dequant` blocks; a model holds no hardware
constants of its own. Timing counts unit occupancy only: pipeline-register latency,
systolic fill and skew belong to the array model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.pe.overlap import PEStages
from bitsmith.targets.accelerator import Dequant, PEArray
from bitsmith.targets.fields import format_bits

WeightOperand = QuantSpec | np.ndarray


def ceil_div(a: int | np.ndarray, b: int) -> int | np.ndarray:
    """ceil(a / b) in integers (elementwise for an array `a`)."""
    return -(-a // b)


@dataclass(frozen=True)
class DotChunk:
    """One PE's share of a GEMM: a reduction of length `k` (see module docstring).

    `group_size`: weights per scale along k, for a PE that rescales each group
    itself (BitMoD); None when the scale is applied outside the PE. The chunk starts
    on a group boundary; its last group may be shorter. `weight_reuse`: False for a
    layer whose weights are used once (a fully-connected layer at batch 1), which
    Loom cannot serialise activations for (FACTS §4).
    """

    k: int
    weight_bits: int
    act_bits: int
    group_size: int | None = None
    weight_reuse: bool = True

    def __post_init__(self) -> None:
        for name in ("k", "weight_bits", "act_bits"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"chunk {name} must be a positive integer, got {value!r}")
        if self.group_size is not None and (type(self.group_size) is not int or self.group_size < 1):
            raise ValueError(f"chunk group_size must be a positive integer or None, got {self.group_size!r}")

    def group_lengths(self) -> np.ndarray:
        """Lengths of the scale groups the chunk covers (the whole chunk when no
        group size), the last possibly partial."""
        if self.group_size is None:
            return np.array([self.k], dtype=np.int64)
        full, rest = divmod(self.k, self.group_size)
        return np.array([self.group_size] * full + ([rest] if rest else []), dtype=np.int64)


@dataclass(frozen=True)
class PETiming:
    """Cycles for one chunk. Subclasses add one `<unit>_cycles` field per unit of the
    PE, each the cycles that unit is busy; `total_cycles` is first start to last
    finish, which is less than their sum where units overlap."""

    total_cycles: int

    # Fields that count time, not a unit's work.
    NOT_UNITS: ClassVar[tuple[str, ...]] = ("total_cycles", "fill_cycles", "stall_cycles", "drain_cycles")

    def busy_cycles(self) -> dict[str, int]:
        """Busy cycles by unit (every `*_cycles` field but the total, fill, stalls and drain)."""
        return {f.name.removesuffix("_cycles"): getattr(self, f.name) for f in fields(self)
                if f.name.endswith("_cycles") and f.name not in self.NOT_UNITS}


class PEModel(ABC):
    """A PE kind's timing, action counts and arithmetic (see the module docstring).
    Subclasses set `kind` to the target's `pe_array.pe` value they model."""

    kind: ClassVar[str]

    def __init__(self, pe_array: PEArray, *, dequant: Dequant | None = None,
                 weight_formats: Sequence[str] = (), act_formats: Sequence[str] = ()) -> None:
        if pe_array.pe != self.kind:
            raise SimulationError(f"{type(self).__name__} models pe {self.kind!r}, the array has pe {pe_array.pe!r}")
        self.pe_array = pe_array
        self.dequant = dequant
        self.dot_product_width = pe_array.dot_product_width
        self.bits_per_cycle = pe_array.bits_per_cycle or 1
        # Widest operands the target's datapath is built for (None: not stated).
        self.max_weight_bits = max((format_bits(name) for name in weight_formats), default=None)
        self.max_act_bits = max((format_bits(name) for name in act_formats), default=None)

    @abstractmethod
    def timing(self, chunk: DotChunk) -> PETiming:
        """Busy cycles per unit and the total for one PE working through `chunk`."""

    @abstractmethod
    def actions(self, chunk: DotChunk) -> dict[str, float]:
        """Count of each named action for `chunk`. Work of a unit shared by several
        PEs is apportioned equally to them, so a count may be fractional."""

    @abstractmethod
    def compute(self, x: np.ndarray, weights: WeightOperand) -> np.ndarray:
        """Outputs `[M, N]` of activations `x [M, K]` against `weights [N, K]`, by
        this PE's arithmetic; raises SimulationError for operands it cannot take."""

    def stages(self, chunk: DotChunk) -> PEStages:
        """`chunk` as a stage pipeline (see the module docstring). This default is
        the single-stage PE's: one item as long as the chunk's total, keeping
        every unit of `timing` busy; two-stage PEs override it."""
        timing = self.timing(chunk)
        return PEStages(np.array([timing.total_cycles], dtype=np.int64), np.zeros(1, dtype=np.int64), True,
                        tuple(timing.busy_cycles()))

    def steps(self, k: int) -> int:
        """Dot-product steps a reduction of length `k` takes."""
        return ceil_div(k, self.dot_product_width)

    def passes(self, bits: int) -> int:
        """Serial passes over an operand `bits` wide, `bits_per_cycle` per pass."""
        return ceil_div(bits, self.bits_per_cycle)

    def unsupported(self, what: str, why: str) -> SimulationError:
        """The one-line error for an operand this PE kind cannot take."""
        return SimulationError(f"pe {self.kind!r} cannot take {what}: {why}")
