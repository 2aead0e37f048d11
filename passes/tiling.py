"""Tile every weight GEMM for the target: search buffer tiles and loop orders with
the simulator's fast engine and record the best on the node (`tile = (M, N, K)`,
`loop_order`), where `bitsmith.simulate` and the backends read it.

Candidates and scoring: passes/search/tiling.py. Only legal mappings are
considered (every operand block fits its double-buffer half), and the default
mapping is always a candidate, so a tiled layer is never slower than an untiled
one. Attention's two GEMMs (QK^T, PV) keep the simulator's default mapping: one
node would need two tiles.
"""

from __future__ import annotations

from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.ops import Op
from bitsmith.passes.base import PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.search.tiling import TileChoice, search_mapping
from bitsmith.simulator.problem import GemmProblem
from bitsmith.simulator.workload import graph_phase, workload
from bitsmith.targets.accelerator import Accelerator

TILED_OPS = (Op.LINEAR, Op.CONV2D, Op.MATMUL)


class TilingOptions(PassOptions):
    """`per_dim`: tile sizes tried per GEMM dimension (powers of two of the array's
    granule, the largest kept)."""

    per_dim: int = 6


def tile_graph(graph: Graph, target: Accelerator, *, per_dim: int = 6) -> tuple[Graph, dict[str, TileChoice]]:
    """`graph` with `tile` and `loop_order` on every weight GEMM, and the choice per node."""
    phase = graph_phase(graph)
    by_name = {p.name: p for p in workload(graph, target) if isinstance(p, GemmProblem)}
    choices: dict[str, TileChoice] = {}
    nodes = []
    for node in graph.nodes:
        problem = by_name.get(node.name)
        if node.op in TILED_OPS and problem is not None:
            choice = search_mapping(problem, target, phase, per_dim=per_dim)
            choices[node.name] = choice
            m = choice.mapping
            node = Node(node.op, node.inputs, node.output,
                        {**node.attrs, "tile": (m.tile_m, m.tile_n, m.tile_k), "loop_order": m.order})
        nodes.append(node)
    return graph.replace(nodes=tuple(nodes)), choices


@graph_pass("tiling", options=TilingOptions)
def tiling_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Choose each GEMM's buffer tile and loop order by simulating candidates."""
    if not isinstance(ctx.target, Accelerator):
        raise PassError("pass tiling: needs an accelerator target to tile for")
    tiled, _ = tile_graph(graph, ctx.target, per_dim=ctx.options(TilingOptions).per_dim)
    return tiled
