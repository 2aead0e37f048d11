"""The validator: every rule a well-formed graph keeps, each failure naming the node.

Rules: names are unique; a node reads only values defined before it (topological
order); arity and attributes match the op's signature; each node's declared type
is what the shape rules infer from its inputs; constant data matches its type;
layouts have one letter per axis; outputs exist; a GEMM's epilogue is a chain
its output path can apply (`_check_epilogue`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bitsmith.ir.dtypes import from_numpy
from bitsmith.ir.errors import VerifyError
from bitsmith.ir.names import sanitize_name
from bitsmith.ir.ops import ELEMENTWISE, OP_SIGNATURES, REQUIRED, Op
from bitsmith.ir.shapes import infer_type
from bitsmith.ir.types import TensorType

if TYPE_CHECKING:
    from bitsmith.ir.graph import Graph, Node


def complete_attrs(op: Op, attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`attrs` with defaults filled in; rejects unknown and missing attributes."""
    signature = OP_SIGNATURES[op].attrs
    unknown = set(attrs) - set(signature)
    if unknown:
        raise VerifyError(f"node %{where} ({op.value}): unknown attribute {sorted(unknown)[0]!r}; "
                          f"{op.value} takes {sorted(signature) or 'none'}")
    full = {k: attrs.get(k, default) for k, default in signature.items()}
    missing = [k for k, v in full.items() if v is REQUIRED]
    if missing:
        raise VerifyError(f"node %{where} ({op.value}): missing attribute {missing[0]!r}")
    return full


def _check_type_layout(name: str, t: TensorType) -> None:
    if t.layout and len(t.layout) != t.rank:
        raise VerifyError(f"value %{name}: layout {t.layout!r} names {len(t.layout)} axes but the type has rank {t.rank}")
    if any(d < 0 for d in t.shape):
        raise VerifyError(f"value %{name}: negative dimension in {t}")


def _check_node(node: Node, types: dict[str, TensorType]) -> None:
    where = f"node %{node.name} ({node.op.value})"
    sig = OP_SIGNATURES[node.op]
    if not sig.min_inputs <= len(node.inputs) <= sig.max_inputs:
        expected = sig.min_inputs if sig.min_inputs == sig.max_inputs else f"{sig.min_inputs}-{sig.max_inputs}"
        raise VerifyError(f"{where}: takes {expected} inputs, got {len(node.inputs)}")
    for name in node.inputs:
        if name not in types:
            raise VerifyError(f"{where}: reads %{name}, which is not defined before it")
    if dict(node.attrs) != complete_attrs(node.op, node.attrs, node.name):
        raise VerifyError(f"{where}: attributes must be complete (defaults filled in)")
    _check_tiling(node, where)
    inferred = infer_type(node.op, [types[i] for i in node.inputs], node.attrs, node.name)
    declared = node.type
    if (inferred.shape, inferred.dtype) != (declared.shape, declared.dtype):
        raise VerifyError(f"{where}: declared type {declared} but its inputs give {inferred}")


def _check_tiling(node: Node, where: str) -> None:
    """A GEMM's `tile` is None or three positive ints; `loop_order` None or a
    permutation of "mnk"; `epilogue` a tuple of names (ops.py), checked as a chain
    once the whole graph is known (`_check_epilogue`)."""
    tile, order = node.attrs.get("tile"), node.attrs.get("loop_order")
    if tile is not None and not (isinstance(tile, tuple) and len(tile) == 3
                                 and all(type(t) is int and t > 0 for t in tile)):
        raise VerifyError(f"{where}: tile must be (M, N, K) positive integers, got {tile!r}")
    if order is not None and (not isinstance(order, str) or sorted(order) != ["k", "m", "n"]):
        raise VerifyError(f"{where}: loop_order must be a permutation of 'mnk', got {order!r}")
    epilogue = node.attrs.get("epilogue", ())
    if not (isinstance(epilogue, tuple) and all(isinstance(name, str) for name in epilogue)):
        raise VerifyError(f"{where}: epilogue must be a tuple of node names, got {epilogue!r}")


def _check_epilogue(graph: Graph, node: Node, position: dict[str, int]) -> None:
    """A GEMM's `epilogue` (ops.py) is a chain the array's output path can apply as
    results drain: each named node is elementwise, comes after the GEMM and reads the
    previous chain value (the GEMM's output first) as exactly one operand; every other
    operand exists before the GEMM starts; every value but the last is read by the
    next chain node only and is not a graph output (it never reaches memory); and no
    node broadcasts the chain up (same element count as the GEMM's output)."""
    where = f"node %{node.name} ({node.op.value})"
    previous = node.name
    for name in node.attrs.get("epilogue", ()):
        chain = graph.producer(name)
        if chain is None or position[name] < position[node.name]:
            raise VerifyError(f"{where}: epilogue names %{name}, which is not a node after it")
        if chain.op not in ELEMENTWISE:
            raise VerifyError(f"{where}: epilogue node %{name} is {chain.op.value}, not an elementwise op")
        if chain.inputs.count(previous) != 1:
            raise VerifyError(f"{where}: epilogue node %{name} must read %{previous} as exactly one operand")
        if previous in graph.outputs or len(graph.users(previous)) != 1:
            raise VerifyError(f"{where}: epilogue value %{previous} must have one user (%{name}) "
                              "and not be a graph output")
        if chain.type.numel != node.type.numel:
            raise VerifyError(f"{where}: epilogue node %{name} has {chain.type.numel} elements, "
                              f"the GEMM's output {node.type.numel}")
        late = next((i for i in chain.inputs if i != previous and position.get(i, -1) > position[node.name]), None)
        if late is not None:
            raise VerifyError(f"{where}: epilogue node %{name} reads %{late}, which is computed after the GEMM")
        previous = name


def verify(graph: Graph) -> None:
    """Raise VerifyError at the first broken rule."""
    types: dict[str, TensorType] = {}

    def define(name: str, t: TensorType) -> None:
        if not name or sanitize_name(name) != name:
            raise VerifyError(f"graph {graph.name}: name {name!r} may use only letters, digits, '_' and '.'")
        if name in types:
            raise VerifyError(f"graph {graph.name}: name %{name} is defined twice")
        _check_type_layout(name, t)
        types[name] = t

    for value in graph.inputs:
        define(value.name, value.type)
    for const in graph.constants:
        define(const.name, const.type)
        if const.data is not None:
            actual = TensorType(const.data.shape, from_numpy(const.data.dtype))
            if (actual.shape, actual.dtype) != (const.type.shape, const.type.dtype):
                raise VerifyError(f"constant %{const.name}: data is {actual} but its type says {const.type}")
    for node in graph.nodes:
        _check_node(node, types)
        define(node.name, node.type)
    if not graph.outputs:
        raise VerifyError(f"graph {graph.name}: has no outputs")
    for name in graph.outputs:
        if name not in types:
            raise VerifyError(f"graph {graph.name}: output %{name} is not defined")
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    for node in graph.nodes:
        if node.attrs.get("epilogue"):
            _check_epilogue(graph, node, position)


def toposort_nodes(graph: Graph) -> list[Node]:
    """Nodes in a stable topological order (Kahn's algorithm, ties by position)."""
    import heapq

    produced = {n.name: i for i, n in enumerate(graph.nodes)}
    waiting = [sum(1 for src in set(n.inputs) if src in produced) for n in graph.nodes]
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        for src in set(node.inputs):
            if src in produced:
                readers.setdefault(src, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(graph.nodes[i])
        for j in readers.get(graph.nodes[i].name, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(graph.nodes):
        stuck = next(n.name for i, n in enumerate(graph.nodes) if waiting[i] > 0)
        raise VerifyError(f"graph {graph.name}: cycle through node %{stuck}")
    return order
