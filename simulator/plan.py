"""The plan of a GEMM: its steps, what each moves, and the folds each runs.

From (problem, mapping, array, buffers), `make_plan` lists the steps in loop order:
one step per block (batch item, m, n, k), the batch items one after another, each
its own GEMM with its own operands. Per step, as numpy arrays:

- loads (bytes, per operand). A weight or input block is loaded when the step
  needs a block other than the one the previous step used, unless the operand is
  resident (its whole per-GEMM extent fits one double-buffer half), in which case
  each block is loaded only on its first use in that GEMM. Revisiting an earlier
  block of a non-resident operand refetches it. An output block's partial sums are
  loaded back when a step returns to an output block it left before its K loop
  ended (not with K innermost, the default), unless outputs are resident.
- stores (bytes). An output block is written to DRAM when the step leaves it for
  the next step's block (K loop done, or spilled partial sums) or at the last step;
  a resident output is written once, on its last visit. Partial sums stay in the
  output buffer between the steps of one K loop, at `out_bits` per element.
- DRAM cycles per load (all of a step's loads as one transfer) and per store,
  ceil(bytes / B) (memory.py).
- the step's shape (tm, tn, tk) as an index into `shapes`; each shape has a fold
  table (array.py) and runs one PE program (`programs`, with its total cycles in
  `program_cycles` from the PE model).
- SRAM traffic that does not depend on timing (`sram_accesses`, port-width
  accesses; `sram_bytes`, bytes per buffer): DRAM loads written into buffers,
  stores read out, and fold results written into the output buffer (read too when
  accumulating onto earlier partial sums: K blocks after the first, and
  weight- and input-stationary K folds after the first of a step). Fold operand
  reads are in `sram_bytes`; their accesses, one per port cycle, are counted by
  the engines.

Both engines consume the same plan, so they differ only in how they time it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from bitsmith.simulator.array import K_FIRST, OUT_ELEMS, W_BITS, X_BITS, ArrayModel, PEProgram, pe_program
from bitsmith.simulator.mapping import Mapping, resident
from bitsmith.simulator.memory import OPERANDS, OperandBuffers, accesses, ceil_bytes, transfer_cycles
from bitsmith.simulator.problem import GemmProblem


@dataclass(frozen=True, eq=False)
class Plan:
    """Steps of one GEMM layer (see the module docstring); arrays are int64."""

    problem: GemmProblem
    mapping: Mapping
    array: ArrayModel
    buffers: OperandBuffers
    step_shape: np.ndarray
    load_bytes: np.ndarray
    store_bytes: np.ndarray
    load_cycles: np.ndarray
    store_cycles: np.ndarray
    shapes: np.ndarray
    fold_table: np.ndarray
    fold_start: np.ndarray
    programs: tuple[PEProgram, ...]
    program_cycles: np.ndarray
    sram_accesses: dict[str, int]
    sram_bytes: dict[str, float]

    @property
    def steps(self) -> int:
        return int(self.step_shape.size)

    def folds_of(self, shape: int) -> np.ndarray:
        return self.fold_table[self.fold_start[shape]:self.fold_start[shape + 1]]


@numba.njit(cache=True)
def _first_use(key: np.ndarray) -> np.ndarray:
    """True where a step uses its block for the first time (keys are 0 <= key < size)."""
    seen = np.zeros(key.max() + 1, dtype=np.bool_)
    mask = np.zeros(key.size, dtype=np.bool_)
    for i in range(key.size):
        mask[i] = not seen[key[i]]
        seen[key[i]] = True
    return mask


def _last_use(key: np.ndarray) -> np.ndarray:
    return _first_use(key[::-1])[::-1]


def _changed(key: np.ndarray) -> np.ndarray:
    """True where the step's block differs from the previous step's."""
    return np.concatenate(([True], key[1:] != key[:-1]))


def make_plan(problem: GemmProblem, mapping: Mapping, array: ArrayModel, buffers: OperandBuffers,
              dram_bytes_per_cycle: float) -> Plan:
    tiles = {"M": mapping.tile_m, "N": mapping.tile_n, "K": mapping.tile_k}
    blocks = {d: -(-getattr(problem, d) // tiles[d]) for d in "MNK"}
    loops = mapping.order.upper()
    grid = np.indices([blocks[d] for d in loops]).reshape(3, -1)
    per_gemm = grid.shape[1]
    index = {d: np.tile(grid[i], problem.batch) for i, d in enumerate(loops)}
    batch = np.repeat(np.arange(problem.batch, dtype=np.int64), per_gemm)
    size = {d: np.minimum(tiles[d], getattr(problem, d) - index[d] * tiles[d]) for d in "MNK"}
    mi, ni, ki = index["M"], index["N"], index["K"]
    keys = {"weight": (batch * blocks["K"] + ki) * blocks["N"] + ni,
            "input": (batch * blocks["M"] + mi) * blocks["K"] + ki,
            "output": (batch * blocks["M"] + mi) * blocks["N"] + ni}
    block = {"weight": ceil_bytes(size["K"] * size["N"], problem.weight_bits_per_element),
             "input": ceil_bytes(size["M"] * size["K"], problem.act_bits),
             "output": ceil_bytes(size["M"] * size["N"], problem.out_bits)}
    keeps = resident(problem, buffers)
    loaded = {op: _first_use(keys[op]) if keeps[op] else _changed(keys[op]) for op in ("weight", "input")}
    loaded["output"] = np.zeros(batch.size, dtype=bool) if keeps["output"] else \
        _changed(keys["output"]) & ~_first_use(keys["output"])
    load_bytes = np.stack([np.where(loaded[op], block[op], 0) for op in OPERANDS], axis=1).astype(np.int64)
    leaving = _last_use(keys["output"]) if keeps["output"] else np.concatenate(
        (keys["output"][1:] != keys["output"][:-1], [True]))
    store_bytes = np.where(leaving, block["output"], 0).astype(np.int64)

    # A step's shape is fixed by which of its block dimensions are edge blocks.
    edge_code = sum((size[d] != tiles[d]).astype(np.int64) << bit for bit, d in enumerate("MNK"))
    present = np.flatnonzero(np.bincount(edge_code, minlength=8))
    number = np.zeros(8, dtype=np.int64)
    number[present] = np.arange(present.size)
    step_shape = number[edge_code]
    order = np.array([np.argmax(edge_code == code) for code in present.tolist()], dtype=np.int64)
    shapes = np.stack([size["M"][order], size["N"][order], size["K"][order]], axis=1)
    programs, program_cycles, tables = _fold_tables(problem, array, buffers, shapes)
    fold_start = np.cumsum([0] + [t.shape[0] for t in tables]).astype(np.int64)
    fold_table = np.concatenate(tables)
    plan = Plan(problem, mapping, array, buffers, step_shape, load_bytes, store_bytes,
                transfer_cycles(load_bytes.sum(axis=1), dram_bytes_per_cycle),
                transfer_cycles(store_bytes, dram_bytes_per_cycle), shapes.astype(np.int64), fold_table, fold_start,
                programs, program_cycles, {}, {})
    accessed, moved = _static_traffic(plan, ki > 0)
    plan.sram_accesses.update(accessed)
    plan.sram_bytes.update(moved)
    return plan


def _fold_tables(problem: GemmProblem, array: ArrayModel, buffers: OperandBuffers,
                 shapes: np.ndarray) -> tuple[tuple[PEProgram, ...], np.ndarray, list[np.ndarray]]:
    """One PE program per distinct chunk, and the fold table of each step shape."""
    programs: dict[int, PEProgram] = {}
    tables = []
    for tm, tn, tk in shapes.tolist():
        chunk = array.chunk(tk, problem.weight_bits, problem.act_bits, problem.group_size, problem.weight_reuse)
        if chunk.k not in programs:
            programs[chunk.k] = pe_program(array.pe, chunk)
        number = list(programs).index(chunk.k)
        cycles = array.pe.timing(chunk).total_cycles
        tables.append(array.folds(tm, tn, tk, number, cycles,
                                  (problem.weight_bits_per_element, buffers.port("weight")),
                                  (problem.act_bits, buffers.port("input"))))
    ordered = tuple(programs.values())
    cycles = np.array([array.pe.timing(p.chunk).total_cycles for p in ordered], dtype=np.int64)
    return ordered, cycles, tables


def _static_traffic(plan: Plan, accumulating: np.ndarray) -> tuple[dict[str, int], dict[str, float]]:
    """SRAM accesses fixed by the plan (see the module docstring), keyed
    `sram_read:<buffer>` / `sram_write:<buffer>`, and the bytes each buffer moves
    (fold operand reads included)."""
    problem, buffers = plan.problem, plan.buffers
    counts: dict[str, int] = {}
    moved: dict[str, float] = {name: 0.0 for name in set(buffers.buffer.values())}

    def add(kind: str, operand: str, bits: np.ndarray, times: np.ndarray | int = 1) -> None:
        name = buffers.buffer[operand]
        key = f"sram_{kind}:{name}"
        counts[key] = counts.get(key, 0) + int((accesses(bits, buffers.port(operand)) * times).sum())
        moved[name] += float((bits * times).sum()) / 8

    for column, operand in enumerate(OPERANDS):
        add("write", operand, plan.load_bytes[:, column] * 8)
    add("read", "output", plan.store_bytes * 8)
    shape_steps = np.bincount(plan.step_shape, minlength=len(plan.shapes))
    later_steps = np.bincount(plan.step_shape[accumulating], minlength=len(plan.shapes))
    for shape, (steps, later) in enumerate(zip(shape_steps.tolist(), later_steps.tolist(), strict=True)):
        folds = plan.folds_of(shape)
        out_bits = folds[:, OUT_ELEMS] * problem.out_bits
        add("write", "output", out_bits, steps)
        add("read", "output", out_bits, np.where(folds[:, K_FIRST] == 0, steps, later))
        moved[buffers.buffer["weight"]] += steps * float(folds[:, W_BITS].sum()) / 8
        moved[buffers.buffer["input"]] += steps * float(folds[:, X_BITS].sum()) / 8
    return counts, moved
