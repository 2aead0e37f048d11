"""Choosing a GEMM's buffer tile and loop order by simulating candidates.

The candidates of one problem are every legal mapping (`check_mapping`) on a grid:
per dimension the array's granule times powers of two, up to the problem's extent
rounded to the granule (at most `per_dim` values, the largest kept), crossed with
all six loop orders, plus the simulator's default mapping, so the search can never
do worse than the default. Each candidate is scored by the fast engine (cycles,
then DRAM bytes as the tie-break); the best is returned with its score. Identical
problems (a transformer repeats a handful of shapes) are searched once per process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bitsmith.simulator.array import ArrayModel
from bitsmith.simulator.engines import simulate_layer
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.mapping import ORDERS, Mapping, check_mapping, choose_mapping, k_unit
from bitsmith.simulator.memory import OperandBuffers
from bitsmith.simulator.problem import GemmProblem, LayerResult
from bitsmith.targets.accelerator import Accelerator


@dataclass(frozen=True)
class TileChoice:
    """The mapping chosen, its simulated result, the default mapping's, and how
    many candidates were simulated."""

    mapping: Mapping
    result: LayerResult
    default: LayerResult
    candidates: int


def search_mapping(problem: GemmProblem, target: Accelerator, phase: str, *, per_dim: int = 6) -> TileChoice:
    """The best mapping of `problem` on `target` (module docstring)."""
    array = ArrayModel.of(target, phase, problem.weight_bits, problem.act_bits)
    buffers = OperandBuffers.of(target)
    default_mapping = choose_mapping(problem, array, buffers, target.name)
    default = simulate_layer(problem, target, phase=phase, mapping=default_mapping)
    shape = dataclasses.replace(problem, name="")  # the layer's name does not change its best tile
    key = (shape, target.model_dump_json(), phase, per_dim)
    if key not in _SEARCHED:
        _SEARCHED[key] = _search(problem, target, phase, per_dim, array, buffers, default_mapping, default)
    mapping, tried = _SEARCHED[key]
    result = default if mapping == default_mapping else simulate_layer(problem, target, phase=phase, mapping=mapping)
    return TileChoice(mapping, result, default, tried)


_SEARCHED: dict[tuple[object, ...], tuple[Mapping, int]] = {}


def _search(problem: GemmProblem, target: Accelerator, phase: str, per_dim: int, array: ArrayModel,
            buffers: OperandBuffers, default_mapping: Mapping, default: LayerResult) -> tuple[Mapping, int]:
    units = {"M": array.tile_m, "N": array.tile_n, "K": k_unit(problem, array)}
    grids = {dim: _grid(getattr(problem, dim), units[dim], per_dim) for dim in "MNK"}
    best, best_result, tried = default_mapping, default, 1
    for m in grids["M"]:
        for n in grids["N"]:
            for k in grids["K"]:
                for order in ORDERS:
                    mapping = Mapping(m, n, k, order)
                    if mapping == default_mapping:
                        continue
                    try:
                        check_mapping(problem, array, buffers, mapping, target.name)
                    except SimulationError:
                        continue
                    result = simulate_layer(problem, target, phase=phase, mapping=mapping)
                    tried += 1
                    if (result.cycles, result.dram_bytes) < (best_result.cycles, best_result.dram_bytes):
                        best, best_result = mapping, result
    return best, tried


def _grid(extent: int, unit: int, per_dim: int) -> list[int]:
    """unit * 2^i up to `extent` rounded up to `unit`, the largest `per_dim` of them."""
    top = -(-extent // unit) * unit
    values, size = [], unit
    while size < top:
        values.append(size)
        size *= 2
    values.append(top)
    return values[-per_dim:]
