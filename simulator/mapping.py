"""A mapping: how a GEMM is cut into buffer-sized blocks and in what order they run.

`Mapping(tile_m, tile_n, tile_k, order)`: blocks of `tile_m x tile_n x tile_k`
elements (multiples of the array's fold tile, array.py; the last block of each
dimension is what is left), visited by three nested loops named outer to inner by
`order` ("nmk": N blocks outermost, K innermost). A mapping is legal when one block
of each operand fits one double-buffer half of its buffer share (memory.py) and,
where the PE rescales scale groups itself, a K block that is not the whole K is a
multiple of the group size (a chunk starts on a group boundary).

`choose_mapping` is one fixed rule, not a search (a search pass scores mappings
with the engines):
1. start from whole blocks: each tile the problem's extent rounded up to the fold
   tile (K: to the group multiple when grouped);
2. while some operand's block does not fit, halve (rounding up to the fold tile)
   the first dimension that can still shrink of that operand's list: weight
   (N, K), input (M, K), output (M, N), taking operands in that order;
3. K innermost; "nmk" (weights kept, inputs refetched per N block) unless
   refetching the weights once per M block moves fewer bytes ("mnk"), BitMoD's
   refetch-the-cheaper-operand rule (FACTS §1.4). An operand is refetched only
   when it is not resident and its block changes between consecutive steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitsmith.simulator.array import ArrayModel
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.memory import OperandBuffers, ceil_bytes
from bitsmith.simulator.problem import GemmProblem

ORDERS = ("nmk", "mnk", "nkm", "mkn", "knm", "kmn")
# Dimensions each operand's block spans, in the order choose_mapping shrinks them.
SHRINK = {"weight": ("N", "K"), "input": ("M", "K"), "output": ("M", "N")}


@dataclass(frozen=True)
class Mapping:
    """Block tile in elements and loop order, outer to inner (see module docstring)."""

    tile_m: int
    tile_n: int
    tile_k: int
    order: str = "nmk"

    def tile(self, dim: str) -> int:
        return {"M": self.tile_m, "N": self.tile_n, "K": self.tile_k}[dim]

    def __str__(self) -> str:
        return f"tile M{self.tile_m} N{self.tile_n} K{self.tile_k} order {self.order}"


def block_bytes(problem: GemmProblem, tiles: dict[str, int]) -> dict[str, int]:
    """Bytes of one block of each operand for `tiles` (clipped to the problem)."""
    m, n, k = (min(tiles[d], getattr(problem, d)) for d in "MNK")
    return {"weight": ceil_bytes(k * n, problem.weight_bits_per_element),
            "input": ceil_bytes(m * k, problem.act_bits), "output": ceil_bytes(m * n, problem.out_bits)}


def resident(problem: GemmProblem, buffers: OperandBuffers) -> dict[str, bool]:
    """Whether each operand's whole per-GEMM extent fits one half of its share."""
    whole = block_bytes(problem, {"M": problem.M, "N": problem.N, "K": problem.K})
    return {op: whole[op] <= buffers.half(op) for op in whole}


def k_unit(problem: GemmProblem, array: ArrayModel) -> int:
    """Granule of a K block shorter than K: the fold tile, and the scale group
    where the PE rescales groups itself (so chunks start on group boundaries)."""
    if problem.group_size is None or array.pe.dequant is None or not array.output_stationary:
        return array.tile_k
    return math.lcm(array.tile_k, problem.group_size)


def _units(problem: GemmProblem, array: ArrayModel) -> dict[str, int]:
    return {"M": array.tile_m, "N": array.tile_n, "K": k_unit(problem, array)}


def _round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def check_mapping(problem: GemmProblem, array: ArrayModel, buffers: OperandBuffers, mapping: Mapping,
                  target_name: str) -> None:
    """Raise a one-line SimulationError naming the layer when `mapping` is illegal."""
    where = f"layer {problem.name}: mapping {mapping} on {target_name}"
    if sorted(mapping.order) != ["k", "m", "n"]:
        raise SimulationError(f"{where}: loop order must be a permutation of 'mnk'")
    units = _units(problem, array)
    for dim in "MN":
        if mapping.tile(dim) < 1 or mapping.tile(dim) % units[dim]:
            raise SimulationError(f"{where}: tile {dim} must be a positive multiple of the array's {units[dim]}")
    if mapping.tile_k < problem.K and (mapping.tile_k < 1 or mapping.tile_k % units["K"]):
        raise SimulationError(f"{where}: a K tile shorter than K={problem.K} must be a multiple of {units['K']}")
    sizes = block_bytes(problem, {"M": mapping.tile_m, "N": mapping.tile_n, "K": mapping.tile_k})
    for operand, size in sizes.items():
        if size > buffers.half(operand):
            raise SimulationError(f"{where}: one {operand} block is {size} B, more than half of its "
                                  f"{buffers.buffer[operand]!r} share ({buffers.half(operand)} B, double-buffered)")


def choose_mapping(problem: GemmProblem, array: ArrayModel, buffers: OperandBuffers, target_name: str) -> Mapping:
    """The default mapping of `problem` (see the module docstring)."""
    units = _units(problem, array)
    tiles = {dim: _round_up(getattr(problem, dim), array.tile_k if dim == "K" else units[dim]) for dim in "MNK"}
    while True:
        sizes = block_bytes(problem, tiles)
        over = next((op for op in ("weight", "input", "output") if sizes[op] > buffers.half(op)), None)
        if over is None:
            break
        dim = next((d for d in SHRINK[over] if tiles[d] > units[d]), None)
        if dim is None:
            raise SimulationError(
                f"layer {problem.name}: cannot tile {problem.M}x{problem.N}x{problem.K} into {target_name}'s buffers: "
                f"one array tile's {over} block is {sizes[over]} B, more than half of its "
                f"{buffers.buffer[over]!r} share ({buffers.half(over)} B, double-buffered)")
        tiles[dim] = max(units[dim], _round_up(-(-tiles[dim] // 2), units[dim]))
    return Mapping(tiles["M"], tiles["N"], tiles["K"], _order(problem, tiles, buffers))


def _order(problem: GemmProblem, tiles: dict[str, int], buffers: OperandBuffers) -> str:
    """"nmk" unless refetching weights per M block is cheaper than inputs per N block."""
    blocks = {d: -(-getattr(problem, d) // tiles[d]) for d in "MNK"}
    keeps = resident(problem, buffers)
    whole = block_bytes(problem, {"M": problem.M, "N": problem.N, "K": problem.K})
    refetch_inputs = 0 if keeps["input"] or blocks["M"] * blocks["K"] == 1 else whole["input"] * (blocks["N"] - 1)
    refetch_weights = 0 if keeps["weight"] or blocks["N"] * blocks["K"] == 1 else whole["weight"] * (blocks["M"] - 1)
    return "mnk" if refetch_weights < refetch_inputs else "nmk"
