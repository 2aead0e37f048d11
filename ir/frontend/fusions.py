"""Recognising spelled-out composite ops after lowering.

Hugging Face writes RMSNorm and the tanh-approximated GELU ("gelu_new", Phi and
GPT-2) as chains of elementwise ops. The IR has both as single ops, which a
vector unit runs (and a cost model charges) as one pass over the tensor, so the
chains are matched and replaced. Matching is exact about structure and operand
identity, and tolerant only in the float constants (stored rounded to the dtype).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from bitsmith.ir.frontend.cleanup import renamed, scalar_value
from bitsmith.ir.graph import Graph, Node, Value
from bitsmith.ir.ops import Op


def _producer(graph: Graph, name: str, op: Op) -> Node | None:
    node = graph.producer(name)
    return node if node is not None and node.op is op else None


def _orders(node: Node) -> Iterator[tuple[str, str]]:
    """Both operand orders of a commutative binary node."""
    yield node.inputs[0], node.inputs[1]
    yield node.inputs[1], node.inputs[0]


def _is_scalar(graph: Graph, name: str, expected: float) -> bool:
    value = scalar_value(graph, name)
    return value is not None and math.isclose(value, expected, rel_tol=1e-6)


def _by_value_and_constant(graph: Graph, name: str, op: Op, constant: float) -> str | None:
    """For `name = op(v, c)` (either order) with scalar constant c: v, else None."""
    node = _producer(graph, name, op)
    for value, const in _orders(node) if node else ():
        if _is_scalar(graph, const, constant):
            return value
    return None


def fuse_rms_norm(graph: Graph) -> Graph:
    """w * (x * rsqrt(mean(x^2, -1) + eps)) becomes rms_norm(x, w), named after
    its weight's module (`layers.0.input_layernorm`)."""
    nodes, renames = [], {}
    taken = {v.name for v in graph.inputs} | {c.name for c in graph.constants} | {n.name for n in graph.nodes}
    for node in graph.nodes:
        match = _match_rms_norm(graph, node) if node.op is Op.MUL else None
        if match is not None:
            x, weight, eps = match
            name = weight.removesuffix(".weight")
            if name != weight and name not in taken:
                taken.add(name)
                renames[node.name] = name
            node = Node(Op.RMS_NORM, (x, weight), Value(renames.get(node.name, node.name), node.type),
                        {"eps": eps, "ndim": 1})
        nodes.append(node)
    return renamed(graph, nodes, renames) if nodes != list(graph.nodes) else graph


def _match_rms_norm(graph: Graph, node: Node) -> tuple[str, str, float] | None:
    for weight, inner in _orders(node):
        w = graph.constant(weight)
        normed = _producer(graph, inner, Op.MUL)
        if w is None or normed is None or w.type.rank != 1:
            continue
        for x, r in _orders(normed):
            rsqrt = _producer(graph, r, Op.RSQRT)
            add = _producer(graph, rsqrt.inputs[0], Op.ADD) if rsqrt else None
            for mean_name, eps_name in _orders(add) if add else ():
                mean, eps = _producer(graph, mean_name, Op.MEAN), scalar_value(graph, eps_name)
                square = _producer(graph, mean.inputs[0], Op.POW) if mean else None
                rank = graph.value(x).type.rank
                if (square is not None and eps is not None and square.inputs[0] == x
                        and _is_scalar(graph, square.inputs[1], 2.0) and mean.attrs["keepdim"]
                        and tuple(mean.attrs["axes"]) == (rank - 1,) and w.type.shape == graph.value(x).type.shape[-1:]):
                    return x, weight, eps
    return None


def fuse_tanh_gelu(graph: Graph) -> Graph:
    """(0.5 * x) * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) becomes
    gelu(x, approximate='tanh')."""
    nodes = []
    for node in graph.nodes:
        x = _match_tanh_gelu(graph, node) if node.op is Op.MUL else None
        if x is not None and graph.value(x).type == node.type:
            node = Node(Op.GELU, (x,), node.output, {"approximate": "tanh"})
        nodes.append(node)
    return graph.replace(nodes=nodes) if nodes != list(graph.nodes) else graph


def _match_tanh_gelu(graph: Graph, node: Node) -> str | None:
    for half_x, gate in _orders(node):
        x = _by_value_and_constant(graph, half_x, Op.MUL, 0.5)
        tanh_name = _by_value_and_constant(graph, gate, Op.ADD, 1.0)
        tanh = _producer(graph, tanh_name, Op.TANH) if tanh_name else None
        inner = _by_value_and_constant(graph, tanh.inputs[0], Op.MUL, math.sqrt(2 / math.pi)) if tanh else None
        add = _producer(graph, inner, Op.ADD) if inner else None
        for same_x, cubic in _orders(add) if add and x else ():
            cube = _by_value_and_constant(graph, cubic, Op.MUL, 0.044715)
            power = _producer(graph, cube, Op.POW) if cube else None
            if same_x == x and power is not None and power.inputs[0] == x and _is_scalar(graph, power.inputs[1], 3.0):
                return x
    return None
