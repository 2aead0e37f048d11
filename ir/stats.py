"""Counting what a graph does: parameters, and multiply-accumulates per layer.

MACs are those of the dense computation the op defines: attention counts the full
Sq x Skv score matrix (QK^T) and the same again for the weighted sum (PV), even
when causal, because that is what a GEMM engine without sparsity support runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.ir.ops import GEMM_LIKE, Op


def node_macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of one node (0 for ops that are not GEMM-like)."""
    out = node.type
    if node.op is Op.LINEAR or node.op is Op.MATMUL:
        return out.numel * graph.value(node.inputs[0]).type.shape[-1]
    if node.op is Op.CONV2D:
        _, c_per_group, kh, kw = graph.value(node.inputs[1]).type.shape
        return out.numel * c_per_group * kh * kw
    if node.op is Op.ATTENTION:
        q, k = graph.value(node.inputs[0]).type, graph.value(node.inputs[1]).type
        scores = math.prod(q.shape[:-1]) * k.shape[-2]
        return scores * q.shape[-1] + scores * out.shape[-1]
    return 0


def node_parameters(graph: Graph, node: Node) -> int:
    """Elements of the parameter constants a node reads (its weights and biases)."""
    total = 0
    for name in dict.fromkeys(node.inputs):
        const = graph.constant(name)
        if const is not None and const.origin == "parameter":
            total += const.type.numel
    return total


def constant_bytes(const: Constant) -> float:
    """Storage of a constant: its dtype's bytes, or for a quantised weight its bits
    per weight with metadata (`QuantSpec.bits_per_weight`)."""
    if const.quant is None:
        return const.type.nbytes
    return const.type.numel * const.quant.bits_per_weight() / 8


@dataclass(frozen=True)
class LayerStats:
    name: str
    op: Op
    output: str  # the printed output type
    parameters: int
    macs: int


@dataclass(frozen=True)
class GraphStats:
    parameters: int  # each parameter counted once, however many nodes read it
    parameter_bytes: float  # quantised weights at their bits per weight
    macs: int
    op_counts: dict[Op, int]
    layers: tuple[LayerStats, ...]  # the GEMM-like nodes, in graph order


def graph_stats(graph: Graph) -> GraphStats:
    params = [c for c in graph.constants if c.origin == "parameter"]
    layers = tuple(
        LayerStats(n.name, n.op, str(n.type), node_parameters(graph, n), node_macs(graph, n))
        for n in graph.nodes if n.op in GEMM_LIKE
    )
    return GraphStats(
        parameters=sum(c.type.numel for c in params),
        parameter_bytes=sum(constant_bytes(c) for c in params),
        macs=sum(layer.macs for layer in layers),
        op_counts=dict(Counter(n.op for n in graph.nodes).most_common()),
        layers=layers,
    )
