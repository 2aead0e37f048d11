"""The `accelerator` target kind: a PE array with its buffers, DRAM and side units.

How the array maps onto a GEMM (M tokens x K inputs -> N outputs) is stated by
`dataflow`:

- `output_stationary` (BitMoD, ANT, OliVe, the FP16 baseline, LUT Tensor Core,
  Stripes, Loom): rows run along output channels (N), columns along tokens (M), and
  each PE reduces `dot_product_width` inputs (K) per step, as BitMoD's
  `_calc_tile_fc` tiles a layer (FACTS §1.4).
- `weight_stationary` (TPU-like arrays, Bit Fusion): rows run along the reduction
  (K), columns along output channels (N), and one token streams through per cycle.
- `input_stationary` (the mirror image of weight-stationary): rows run along the
  reduction (K), columns along tokens (M); the activations stay in the array and one
  weight column (output channel, N) streams through per cycle.

A design that re-arranges its PEs per phase (`pe_array.phases`) may also state
each buffer's port width per phase (`buffers.<name>.phases.<phase>.port_width`),
as BitMoD's simulator sizes its ports from the phase's array; a phase without one
uses the buffer's `port_width`.

Cost figures (energies, areas, banks, port widths) may be left out or null where the
source does not publish them; consumers must treat that as unknown, never as zero.
"""

from __future__ import annotations

from math import ceil
from typing import Annotated, Literal, Self

from pydantic import PlainValidator, model_validator

from bitsmith.ir.ops import ELEMENTWISE
from bitsmith.ir.formats import UnknownFormatError, get_format
from bitsmith.ir.formats.schemes import Scheme, resolve_scheme
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.targets.base import Block, TargetBase
from bitsmith.targets.fields import (AnyBandwidth, Area, Count, DataSize, Energy, EnergyPerBit, Factor, FormatName,
                                     Frequency, Identifier, Length, Text, field_error, format_bits, show)
from bitsmith.targets.units import Dimension

PEKind = Literal["mac", "bit_serial", "bit_serial_act", "bit_serial_both", "lut", "bit_fusion"]
# PE kinds that take operands a few bits per cycle (weights, activations or both; LUT: weight bit-planes)
SERIAL_PE_KINDS = ("bit_serial", "bit_serial_act", "bit_serial_both", "lut")
PHASES = ("prefill", "decode")


class Shape(Block):
    rows: Count
    cols: Count


class Phases(Block):
    """Per-phase arrangements of the same PEs, where a design reshapes its array
    (BitMoD: 64x16 for decode, 32x32 for prefill; FACTS §1.3)."""

    prefill: Shape | None = None
    decode: Shape | None = None


class LUTUnit(Block):
    """Lookup-table PEs: a table of the 2^g signed sums of `group` activations, of
    which a symmetric table stores half (T[~i] = -T[i], FACTS §3.1).

    `shared_builder`: one table builder per activation row, broadcast to the PEs
    that read its tables and building the next step's tables while they look up
    (LUT Tensor Core, FACTS §3.2); false where each PE builds its own tables and
    then looks them up, as a per-column kernel does. `tables_per_cycle`: tables a
    builder completes per cycle."""

    group: Count
    symmetric: bool
    entry_format: FormatName
    shared_builder: bool = True
    tables_per_cycle: Count = 1

    @property
    def table_entries(self) -> int:
        return 2 ** (self.group - 1) if self.symmetric else 2**self.group


class Fusion(Block):
    """Bit Fusion: `brick_bits`-wide BitBricks fused spatially up to `fused_bits`."""

    brick_bits: Count
    fused_bits: Count

    @model_validator(mode="after")
    def _bricks_tile_the_unit(self) -> Self:
        if self.fused_bits % self.brick_bits:
            raise field_error("fused_bits",
                              f"must be a multiple of brick_bits ({self.brick_bits}), got {self.fused_bits}")
        return self

    @property
    def bricks_per_unit(self) -> int:
        return (self.fused_bits // self.brick_bits) ** 2

    def products_per_cycle(self, weight_bits: int, act_bits: int) -> int:
        """Products one fusion unit completes per cycle (Bit Fusion simulator:
        floor(8/max(p_a,2)) * floor(8/max(p_w,2)), FACTS §4)."""
        if max(weight_bits, act_bits) > self.fused_bits:
            raise ValueError(f"Bit Fusion fuses operands of at most {self.fused_bits} bits, "
                             f"got {weight_bits}-bit weights and {act_bits}-bit activations")
        per_act = self.fused_bits // max(act_bits, self.brick_bits)
        per_weight = self.fused_bits // max(weight_bits, self.brick_bits)
        return per_act * per_weight


class PEArray(Block):
    """The compute array. `pe_energy_per_cycle` and `pe_area` are one PE's synthesis
    figures; `pnr_factor` scales both for place-and-route as BitMoD's simulator does."""

    pe: PEKind
    dataflow: Literal["output_stationary", "weight_stationary", "input_stationary"]
    rows: Count
    cols: Count
    dot_product_width: Count
    bits_per_cycle: Count | None = None
    lut: LUTUnit | None = None
    fusion: Fusion | None = None
    phases: Phases | None = None
    pe_energy_per_cycle: Energy | None = None
    pe_area: Area | None = None
    pnr_factor: Factor | None = None
    source: Text

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        serial = self.pe in SERIAL_PE_KINDS
        if serial and self.bits_per_cycle is None:
            raise field_error("bits_per_cycle", f"required for pe {self.pe!r}")
        if not serial and self.bits_per_cycle is not None:
            raise field_error("bits_per_cycle", f"only bit-serial and LUT PEs take bits per cycle, not pe {self.pe!r}")
        for block, kind in (("lut", "lut"), ("fusion", "bit_fusion")):
            if self.pe == kind and getattr(self, block) is None:
                raise field_error(block, f"required when pe is {kind!r}")
            if self.pe != kind and getattr(self, block) is not None:
                raise field_error(block, f"only allowed when pe is {kind!r}, not {self.pe!r}")
        if self.lut is not None and self.dot_product_width % self.lut.group:
            raise field_error("lut.group", f"must divide dot_product_width ({self.dot_product_width}), "
                                           f"got {self.lut.group}")
        for phase in PHASES:
            shape = getattr(self.phases, phase, None)
            if shape is not None and shape.rows * shape.cols != self.pe_count:
                raise field_error(f"phases.{phase}", f"{shape.rows}x{shape.cols} is {shape.rows * shape.cols} PEs but "
                                                     f"the array has {self.rows}x{self.cols} = {self.pe_count}; "
                                                     f"a phase re-arranges the same PEs")
        return self

    @property
    def pe_count(self) -> int:
        return self.rows * self.cols

    @property
    def lanes(self) -> int:
        """Multiplier lanes: PEs x dot-product width."""
        return self.pe_count * self.dot_product_width

    def shape(self, phase: str | None = None) -> tuple[int, int]:
        """(rows, cols) in `phase` ("prefill" or "decode"); the default shape otherwise."""
        if phase is not None and phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        shape = getattr(self.phases, phase, None) if phase else None
        return (shape.rows, shape.cols) if shape is not None else (self.rows, self.cols)

    def gemm_tile(self, phase: str | None = None) -> dict[str, int]:
        """The GEMM tile one step of the array covers, as {"M", "N", "K"}."""
        rows, cols = self.shape(phase)
        if self.dataflow == "output_stationary":
            return {"M": cols, "N": rows, "K": self.dot_product_width}
        if self.dataflow == "input_stationary":
            return {"M": cols, "N": 1, "K": rows * self.dot_product_width}
        return {"M": 1, "N": cols, "K": rows * self.dot_product_width}

    def macs_per_cycle(self, weight_bits: int, act_bits: int) -> float:
        """Average multiply-accumulates per cycle with operands this wide: lanes
        divided by the serial passes the PE kind needs (BitMoD ceil(w/2), FACTS
        §1.4; LUT Tensor Core 512/W_BIT, §3.2; Stripes 16/p_a and Loom 256/(p_a p_w)
        over a 16-bit engine, §4), or times Bit Fusion's fused products."""
        for bits in (weight_bits, act_bits):
            if type(bits) is not int or bits <= 0:
                raise ValueError(f"operand widths must be positive integers, got {bits!r}")
        per_cycle = self.bits_per_cycle or 1
        weight_passes, act_passes = ceil(weight_bits / per_cycle), ceil(act_bits / per_cycle)
        match self.pe:
            case "mac":
                return float(self.lanes)
            case "bit_serial" | "lut":
                return self.lanes / weight_passes
            case "bit_serial_act":
                return self.lanes / act_passes
            case "bit_serial_both":
                return self.lanes / (weight_passes * act_passes)
            case _:
                assert self.fusion is not None  # guaranteed by validation
                return float(self.lanes * self.fusion.products_per_cycle(weight_bits, act_bits))

    @property
    def area_mm2(self) -> float | None:
        """PEs x synthesis area per PE: the "pe array area" BitMoD's simulator
        prints, which leaves out the place-and-route factor (FACTS §1.3)."""
        return None if self.pe_area is None else self.pe_count * self.pe_area.to("mm2")

    @property
    def placed_area_mm2(self) -> float | None:
        """`area_mm2` x `pnr_factor`: the array after place-and-route."""
        if self.area_mm2 is None or self.pnr_factor is None:
            return None
        return self.area_mm2 * self.pnr_factor

    @property
    def placed_pe_energy_pj(self) -> float | None:
        """Energy per PE per cycle after place-and-route: what BitMoD's simulator
        charges every PE on every compute cycle (1.5 x pe_energy, FACTS §1.4)."""
        if self.pe_energy_per_cycle is None or self.pnr_factor is None:
            return None
        return self.pe_energy_per_cycle.to("pJ") * self.pnr_factor


class Formats(Block):
    """Number formats the datapath takes (names as `bitsmith formats` lists them).
    `group_size: null` means one scale per output channel."""

    weights: list[FormatName]
    activations: list[FormatName]
    default_weights: FormatName
    kv_cache: FormatName
    group_size: Count | None
    source: Text

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for field in ("weights", "activations"):
            names = getattr(self, field)
            if not names:
                raise field_error(field, "must list at least one format")
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise field_error(field, f"lists {', '.join(repeated)} more than once")
        if self.default_weights not in self.weights:
            raise field_error("default_weights", f"must be one of weights ({', '.join(self.weights)}), "
                                                 f"got {self.default_weights!r}")
        return self

    @property
    def weight_elements(self) -> tuple[str, ...]:
        """The element formats the weight schemes are made of, in listed order, where
        the datapath takes them under an absmax group scale: a listed element
        format, or a listed mixture's members. What a per-group format choice
        (`assign_dtypes`) may pick from. MX and OliVe schemes (scales of their own),
        ternary (absmean), unsigned INT (asymmetric zero points) and wide types
        (`f16`) contribute none."""
        found: dict[str, None] = {}
        for scheme in _schemes(self.weights):
            if scheme.scale_rule == "absmax":
                found.update((member, None) for member in scheme.formats if get_format(member).signed)
        return tuple(found)

    @property
    def mixes_per_group(self) -> bool:
        """Whether the weight decoder takes a per-group format id: the target lists a
        per-group mixture (BitMoD's `bitmod4`, ANT's `ant4`), so its datapath
        already decodes a selector per group. Nothing else does: a LUT PE's tables
        are sums of activations and every weight bit-plane of a tile is read with
        one binary coding (simulator/pe/lut.py takes one integer format per tile);
        INT-only serial and MAC arrays have no selector to read."""
        return any(len(scheme.formats) > 1 for scheme in _schemes(self.weights))

    def missing_weight_format(self, name: str, spec: QuantSpec | None) -> str | None:
        """None when the datapath takes a weight in format `name` (as the workload
        names it) quantised as `spec`; else the format it lacks. Taken: a listed
        name, or an absmax spec whose formats are all `weight_elements` (more than
        one only where the target `mixes_per_group`): bitmod takes
        `bitmod_fp4_er_pos` alone or any mixture of the bitmod4 and bitmod3 members
        of one width."""
        if name in self.weights:
            return None
        if spec is None or spec.asymmetric or spec.scale_rule != "absmax":
            return name
        if len(spec.formats) > 1 and not self.mixes_per_group:
            return name
        return next((member for member in spec.formats if member not in self.weight_elements), None)


def _schemes(names: list[str]) -> list[Scheme]:
    """What each listed format name resolves to, wide types (`f16`) left out."""
    found = []
    for name in names:
        try:
            found.append(resolve_scheme(name))
        except UnknownFormatError:
            continue
    return found


class Dequant(Block):
    """The rescale unit: `bit_serial` multiplies by the scale one bit per cycle
    (BitMoD's dequant.v, FACTS §1.2); `parallel` in one step."""

    mode: Literal["bit_serial", "parallel"]
    scale_format: FormatName
    granularity: Literal["group", "channel", "tensor"]
    source: Text

    @property
    def cycles_per_scale(self) -> int:
        return format_bits(self.scale_format) if self.mode == "bit_serial" else 1


def _epilogue_op(value: object) -> str:
    if type(value) is not str or value not in _ELEMENTWISE_NAMES:
        raise ValueError(f"must be an elementwise op of the IR (add, mul, relu, gelu, ...), got {show(value)}")
    return value


_ELEMENTWISE_NAMES = frozenset(op.value for op in ELEMENTWISE)
EpilogueOp = Annotated[str, PlainValidator(_epilogue_op)]


class VectorUnit(Block):
    """The unit that runs non-GEMM operators (norms, softmax, elementwise).

    `epilogue`: the elementwise ops the unit can apply to a GEMM's results as they
    drain from the array (a TPU's activation pipeline), so the fuse_epilogue pass may
    fuse them into the GEMM; absent (null) where the design has no such path."""

    lanes: Count
    ops_per_lane_per_cycle: Count
    epilogue: list[EpilogueOp] | None = None
    source: Text

    @model_validator(mode="after")
    def _epilogue_once_each(self) -> Self:
        repeated = sorted({op for op in self.epilogue or () if self.epilogue.count(op) > 1})
        if repeated:
            raise field_error("epilogue", f"lists {', '.join(repeated)} more than once")
        return self

    @property
    def ops_per_cycle(self) -> int:
        return self.lanes * self.ops_per_lane_per_cycle


class BufferPhase(Block):
    """What a buffer changes in one phase of the array: its port width."""

    port_width: DataSize


class BufferPhases(Block):
    """Per-phase port widths of a buffer whose array reshapes. BitMoD's simulator
    sizes each port from the phase's array (weight dp*ceil(w_bits/4)*4*rows, input
    dp*16*cols, halved when bit-serial; FACTS §1.3), so the 32-column prefill array
    reads twice the input bits per cycle of the 16-column decode array. Stated, not
    derived: the rule is BitMoD's, and other designs size their ports otherwise."""

    prefill: BufferPhase | None = None
    decode: BufferPhase | None = None


class Buffer(Block):
    """An on-chip SRAM; energies are per access of one port width. `port_width` is
    the width in the target's default arrangement; `phases` overrides it for a
    phase that arranges the array differently (`pe_array.phases`)."""

    size: DataSize
    banks: Count | None = None
    port_width: DataSize | None = None
    phases: BufferPhases | None = None
    read_energy_per_access: Energy | None = None
    write_energy_per_access: Energy | None = None
    area: Area | None = None
    source: Text

    @property
    def bytes(self) -> int:
        return int(self.size.to("B"))

    def port_bits(self, phase: str | None = None) -> int | None:
        """Port width in bits in `phase` ("prefill" or "decode"; None: the default
        arrangement), or None where the target leaves it unknown."""
        if phase is not None and phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        override = getattr(self.phases, phase, None) if phase else None
        width = override.port_width if override is not None else self.port_width
        return None if width is None else int(width.to("bit"))


class DRAM(Block):
    bandwidth: AnyBandwidth
    energy_per_bit: EnergyPerBit | None = None
    size: DataSize | None = None
    source: Text


class Accelerator(TargetBase):
    """A modelled accelerator: what the simulator costs a compiled graph on."""

    kind: Literal["accelerator"]
    clock: Frequency
    technology: Length | None = None
    pe_array: PEArray
    formats: Formats
    dequant: Dequant | None = None
    vector_unit: VectorUnit | None = None
    buffers: dict[Identifier, Buffer]
    dram: DRAM

    @model_validator(mode="after")
    def _has_buffers(self) -> Self:
        if not self.buffers:
            raise field_error("buffers", "must name at least one on-chip buffer")
        return self

    @property
    def clock_hz(self) -> float:
        return self.clock.to("Hz")

    @property
    def dram_bytes_per_cycle(self) -> float:
        bandwidth = self.dram.bandwidth
        if bandwidth.dimension is Dimension.BANDWIDTH_PER_CYCLE:
            return bandwidth.to("B/cycle")
        return bandwidth.to("B/s") / self.clock_hz

    @property
    def dram_gb_per_s(self) -> float:
        return self.dram_bytes_per_cycle * self.clock_hz / 1e9

    @property
    def dram_pj_per_bit(self) -> float | None:
        return None if self.dram.energy_per_bit is None else self.dram.energy_per_bit.to("pJ/bit")

    @property
    def onchip_bytes(self) -> int:
        return sum(buffer.bytes for buffer in self.buffers.values())

    @property
    def peak_macs_per_cycle(self) -> float:
        """MACs per cycle with the narrowest weight and activation formats supported."""
        weight_bits = min(format_bits(name) for name in self.formats.weights)
        act_bits = min(format_bits(name) for name in self.formats.activations)
        return self.pe_array.macs_per_cycle(weight_bits, act_bits)

    @property
    def peak_tops(self) -> float:
        """Peak tera-operations per second, counting a MAC as two operations."""
        return 2 * self.peak_macs_per_cycle * self.clock_hz / 1e12
