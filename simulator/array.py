"""The PE array: how a block of GEMM work becomes folds, and how long a fold takes.

A step (plan.py) hands the array a block of `tm x tn x tk` work. The array covers
it in folds, one array-sized piece after another, and every PE of a fold runs the
same PE program (one `DotChunk`; for the two stationary dataflows one chunk per
streamed column).

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
Input-stationary (rows along K, columns along M, weight columns streaming): the
  weight-stationary rule with weights and inputs, N and M, swapped. A PE holds kw
  activations of one token; folds: M in pieces of `cols` (outer), K in pieces of
  rows*kw (inner), ur = ceil(k_fold / kw), uc tokens. The fold shifts its
  activations in (ur cycles), then streams the tn weight columns: PE (r, c) takes
  column j at ur + (j + r) * T + c, T = DotChunk(kw), so its PEs are done at
  ur + (ur - 1) * T + (uc - 1) + tn * T; results leave at the bottom edge, no
  drain. A fold's activations stream once through the input port; every weight
  column streams through the weight port.

SRAM ports. While a fold runs, its operands stream from their buffers at one port
width per cycle: ceil(bits / port_bits) cycles each (weight: the fold's weights at
stored bits per weight, k_fold x (uc or tn); input: its activations, k_fold x (tm
or uc)). A fold ends when its PEs are done and both streams are done; the
difference is an `sram_port` stall.

Fold pipeline. A fold hands its results to the drain when it has ended and the
drain has finished the previous fold; the next fold starts at that hand-over (the
two-stage rule of pe/overlap.py, fold = producer, drain = consumer). A step's array
time is the two-stage total: first fold start to last drain end.

PE programs. Each fold's PEs run the PE model's stage pipeline for their chunk
(`PEModel.stages`, pe/overlap.py), which the PE model's `timing` is computed
from; the trace engine steps those stages cycle by cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from bitsmith.simulator.pe import PEModel, pe_model
from bitsmith.simulator.pe.base import DotChunk, ceil_div
from bitsmith.simulator.pe.overlap import PEStages
from bitsmith.targets.accelerator import Accelerator

# Columns of a fold table (one row per fold of a step shape).
FOLD_COLUMNS = ("ur", "uc", "pre", "hop_r", "hop_c", "active", "reps", "program", "port_w", "port_x", "drain",
                "out_elems", "k_first", "w_bits", "x_bits")
(UR, UC, PRE, HOP_R, HOP_C, ACTIVE, REPS, PROGRAM, PORT_W, PORT_X, DRAIN, OUT_ELEMS, K_FIRST, W_BITS,
 X_BITS) = range(len(FOLD_COLUMNS))


@dataclass(frozen=True)
class PEProgram:
    """What every PE of a fold runs: a chunk and its stages (`PEModel.stages`)."""

    chunk: DotChunk
    stages: PEStages


def pe_program(pe: PEModel, chunk: DotChunk) -> PEProgram:
    """The program of `pe` for `chunk`."""
    return PEProgram(chunk, pe.stages(chunk))


@dataclass(frozen=True)
class ArrayModel:
    """A target's array in one phase: its shape, dataflow, PE model, the reduction
    length a PE holds in the stationary dataflows (`k_per_pe`), and the GEMM tile
    one fold covers (`tile_m`, `tile_n`, `tile_k`, see the module docstring)."""

    rows: int
    cols: int
    dataflow: str
    pe: PEModel
    k_per_pe: int
    tile_m: int
    tile_n: int
    tile_k: int

    @classmethod
    def of(cls, target: Accelerator, phase: str, weight_bits: int, act_bits: int) -> ArrayModel:
        array = target.pe_array
        rows, cols = array.shape(phase)
        tile = array.gemm_tile(phase)
        fused = 1
        if array.fusion is not None and array.dataflow != "output_stationary":
            fused = array.fusion.products_per_cycle(weight_bits, act_bits)
        return cls(rows, cols, array.dataflow, pe_model(target), array.dot_product_width * fused, tile["M"],
                   tile["N"], tile["K"] * fused)

    @property
    def output_stationary(self) -> bool:
        return self.dataflow == "output_stationary"

    @property
    def pe_count(self) -> int:
        return self.rows * self.cols

    def chunk(self, k: int, weight_bits: int, act_bits: int, group_size: int | None,
              weight_reuse: bool) -> DotChunk:
        """The chunk one PE runs in a step reducing `k` (output-stationary) or per
        streamed token or weight column (the stationary dataflows: its `k_per_pe`)."""
        length = k if self.output_stationary else self.k_per_pe
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
            weights_held = self.dataflow == "weight_stationary"
            held, streamed = (tn, tm) if weights_held else (tm, tn)
            uc = _pieces(held, self.cols)
            k = _pieces(tk, self.rows * self.k_per_pe)
            k_first = np.tile(np.arange(k.size) == 0, uc.size)
            uc, k = np.repeat(uc, k.size), np.tile(k, uc.size)
            ur = ceil_div(k, self.k_per_pe)
            w_elems, x_elems = (k * uc, k * streamed) if weights_held else (k * streamed, k * uc)
            pre, hop_r, reps, drain = ur, np.full_like(ur, active), np.full_like(ur, streamed), np.zeros_like(ur)
            out_elems = uc * streamed
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
