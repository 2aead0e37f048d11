"""The PE array: how a block of GEMM work becomes folds, and how long a fold takes.

A step (plan.py) hands the array a block of `tm x tn x tk` work. The array covers
it in folds, one array-sized piece after another, and every PE of a fold runs the
same PE program (one `DotChunk`, or for weight-stationary one chunk per token).

Output-stationary (rows along N, columns along M, each PE reducing along K):
  folds: N in pieces of `rows` (outer), M in pieces of `cols` (inner); a fold
  uses ur <= rows x uc <= cols PEs, and each reduces the step's whole tk.
  PE (r, c) starts r + c cycles after the fold (operands skew one hop per cycle)
  and is busy T = pe.timing(DotChunk(tk)).total_cycles, so its PEs are done at
  (ur - 1) + (uc - 1) + T. Its outputs then drain out of the array, one row of
  results per cycle: a drain of ur cycles.
Weight-stationary (rows along K, columns along N, tokens streaming):
  a PE holds kw = dot_product_width x products-per-cycle weights (Bit Fusion's
  fused products, FACTS §4; 1 otherwise), so a fold covers rows*kw of K (outer
  loop N in pieces of `cols`, inner loop K in pieces of rows*kw) with ur =
  ceil(k_fold / kw) rows and uc columns. The fold first shifts its weights in, one
  row per cycle (ur cycles), then streams the tm tokens: PE (r, c) takes token t
  at ur + (t + r) * T + c, where T is one token's chunk DotChunk(kw) (a partial sum
  moves down only when the PE above has finished it; activations move right one
  column per cycle), so its PEs are done at ur + (ur - 1) * T + (uc - 1) + tm * T.
  Results leave at the bottom edge as they are made: no separate drain.

SRAM ports. While a fold runs, its operands stream from their buffers at one port
width per cycle: ceil(bits / port_bits) cycles each (weight: the fold's weights at
stored bits per weight; input: its activations). A fold ends when its PEs are done
and both streams are done; the difference is an `sram_port` stall.

Fold pipeline. A fold hands its results to the drain when it has ended and the
drain has finished the previous fold; the next fold starts at that hand-over (the
two-stage rule of pe/overlap.py, fold = producer, drain = consumer). A step's array
time is the two-stage total: first fold start to last drain end.

PE programs. Every PE kind is a pipeline of at most two stages of items
(`PEProgram`): BitMoD's term phase per scale group feeding the bit-serial dequant
(FACTS §1.2); a LUT table builder per step feeding the lookups (§3.2; overlapped
when the builder is shared, one after the other when each PE builds its own);
single-stage PEs (MAC, Stripes, Loom, Bit Fusion) one item of the chunk's total.
The trace engine steps these stages cycle by cycle; tests check the result equals
the PE model's own `timing`.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from bitsmith.simulator.pe import PEModel, pe_model
from bitsmith.simulator.pe.base import DotChunk, ceil_div
from bitsmith.simulator.pe.overlap import two_stage_schedule
from bitsmith.targets.accelerator import Accelerator

# Columns of a fold table (one row per fold of a step shape).
FOLD_COLUMNS = ("ur", "uc", "pre", "hop_r", "hop_c", "active", "reps", "program", "port_w", "port_x", "drain",
                "out_elems", "k_first", "w_bits", "x_bits")
(UR, UC, PRE, HOP_R, HOP_C, ACTIVE, REPS, PROGRAM, PORT_W, PORT_X, DRAIN, OUT_ELEMS, K_FIRST, W_BITS,
 X_BITS) = range(len(FOLD_COLUMNS))


@dataclass(frozen=True)
class PEProgram:
    """One PE's chunk as a pipeline of items: stage one busy `first[i]` cycles on
    item i, stage two `second[i]`. With `overlap`, item i passes to stage two when
    stage one has finished it and stage two has finished item i-1, and stage one
    starts item i+1 at that hand-over (pe/overlap.py); without, stage one starts
    item i+1 only when stage two has finished item i. `first_units` and
    `second_units` name the PE units each stage keeps busy (keys of the PE model's
    `busy_cycles()`)."""

    chunk: DotChunk
    first: np.ndarray
    second: np.ndarray
    overlap: bool
    first_units: tuple[str, ...]
    second_units: tuple[str, ...]

    def schedule(self) -> tuple[int, int, int]:
        """(total, stage-one stall, stage-two starve) cycles, in closed form."""
        if not self.overlap:
            return int(self.first.sum() + self.second.sum()), 0, 0
        s = two_stage_schedule(self.first, self.second)
        return s.total_cycles, s.first_stall_cycles, s.second_starve_cycles


def pe_program(pe: PEModel, chunk: DotChunk) -> PEProgram:
    """The stage program of `pe` for `chunk` (see the module docstring)."""
    if pe.kind == "bit_serial":
        lengths = chunk.group_lengths()
        first = ceil_div(lengths, pe.dot_product_width) * pe.passes(chunk.weight_bits)
        rescales = chunk.group_size is not None and pe.dequant is not None
        second = np.full_like(first, pe.dequant.cycles_per_scale if rescales else 0)
        return PEProgram(chunk, first, second, True, ("term", "accumulate"), ("dequant",))
    if pe.kind == "lut":
        steps = pe.steps(chunk.k)
        build = ceil_div(pe.dot_product_width // pe.group, pe.tables_per_cycle)
        first = np.full(steps, build, dtype=np.int64)
        second = np.full(steps, pe.passes(chunk.weight_bits), dtype=np.int64)
        return PEProgram(chunk, first, second, pe.shared_precompute, ("table_build",), ("lookup", "combine"))
    timing = pe.timing(chunk)
    return PEProgram(chunk, np.array([timing.total_cycles], dtype=np.int64), np.zeros(1, dtype=np.int64), True,
                     tuple(timing.busy_cycles()), ())


@dataclass(frozen=True)
class ArrayModel:
    """A target's array in one phase: its shape, dataflow, PE model, and the GEMM
    tile one fold covers (`tile_m`, `tile_n`, `tile_k`, see the module docstring)."""

    rows: int
    cols: int
    dataflow: str
    pe: PEModel
    weights_per_pe: int
    tile_m: int
    tile_n: int
    tile_k: int

    @classmethod
    def of(cls, target: Accelerator, phase: str, weight_bits: int, act_bits: int) -> ArrayModel:
        array = target.pe_array
        rows, cols = array.shape(phase)
        pe = pe_model(target)
        if array.dataflow == "output_stationary":
            return cls(rows, cols, array.dataflow, pe, array.dot_product_width, cols, rows, array.dot_product_width)
        fused = array.fusion.products_per_cycle(weight_bits, act_bits) if array.fusion is not None else 1
        kw = array.dot_product_width * fused
        return cls(rows, cols, array.dataflow, pe, kw, 1, cols, rows * kw)

    @property
    def output_stationary(self) -> bool:
        return self.dataflow == "output_stationary"

    @property
    def pe_count(self) -> int:
        return self.rows * self.cols

    def chunk(self, k: int, weight_bits: int, act_bits: int, group_size: int | None,
              weight_reuse: bool) -> DotChunk:
        """The chunk one PE runs in a step reducing `k` (output-stationary) or per
        token (weight-stationary: its `weights_per_pe`)."""
        length = k if self.output_stationary else self.weights_per_pe
        return DotChunk(length, weight_bits, act_bits, group_size, weight_reuse)

    def folds(self, tm: int, tn: int, tk: int, program: int, active: int, port_w: tuple[float, int],
              port_x: tuple[int, int]) -> np.ndarray:
        """Fold table (FOLD_COLUMNS) of a `tm x tn x tk` step whose PEs run program
        number `program`, `active` cycles for one chunk. `port_w` and `port_x` are
        (bits per element, port bits) of the weight and input buffers; a fold's
        weight bits are rounded up to whole bits."""
        if self.output_stationary:
            ur = _pieces(tn, self.rows)
            uc = _pieces(tm, self.cols)
            ur, uc = np.repeat(ur, uc.size), np.tile(uc, ur.size)
            k = np.full(ur.size, tk)
            w_elems, x_elems = ur * k, uc * k
            pre, hop_r, reps, drain = np.zeros_like(ur), np.ones_like(ur), np.ones_like(ur), ur
            out_elems, k_first = ur * uc, np.ones_like(ur)
        else:
            uc = _pieces(tn, self.cols)
            k = _pieces(tk, self.rows * self.weights_per_pe)
            k_first = np.tile(np.arange(k.size) == 0, uc.size)
            uc, k = np.repeat(uc, k.size), np.tile(k, uc.size)
            ur = ceil_div(k, self.weights_per_pe)
            w_elems, x_elems = k * uc, k * tm
            pre, hop_r, reps, drain = ur, np.full_like(ur, active), np.full_like(ur, tm), np.zeros_like(ur)
            out_elems = uc * tm
        table = np.zeros((ur.size, len(FOLD_COLUMNS)), dtype=np.int64)
        table[:, UR], table[:, UC], table[:, PRE], table[:, HOP_R], table[:, HOP_C] = ur, uc, pre, hop_r, 1
        table[:, ACTIVE], table[:, REPS], table[:, PROGRAM] = active * reps, reps, program
        table[:, W_BITS] = np.ceil(w_elems * port_w[0]).astype(np.int64)
        table[:, X_BITS] = x_elems * port_x[0]
        table[:, PORT_W] = _port_cycles(table[:, W_BITS], port_w[1])
        table[:, PORT_X] = _port_cycles(table[:, X_BITS], port_x[1])
        table[:, DRAIN], table[:, OUT_ELEMS], table[:, K_FIRST] = drain, out_elems, k_first
        return table


def _pieces(extent: int, size: int) -> np.ndarray:
    """Lengths of `extent` cut into pieces of `size`, the last possibly shorter."""
    full, rest = divmod(extent, size)
    return np.array([size] * full + ([rest] if rest else []), dtype=np.int64)


def _port_cycles(bits: np.ndarray, port_bits: int) -> np.ndarray:
    """Cycles a port `port_bits` wide (0: unlimited) takes to stream `bits`."""
    return ceil_div(bits, port_bits) if port_bits > 0 else np.zeros_like(bits)
