"""canonicalize: bring a lowered graph to canonical form, GEMM-like ops plus
vector ops with nothing left that computes nothing, so later passes and the
simulator see (and cost) only real work.

Rewrites, repeated until none applies (so a second run returns the same graph):

- constant folding: a node whose inputs are all constants with data becomes a
  constant (`fold_constants`);
- no-ops dropped: reshape/expand to the same shape, an identity permute, a cast to
  the same dtype, a slice taking a whole axis in order, `x + 0`, `x - 0`, `x * 1`,
  `x / 1` whose result type is x's, a concat of one input, a clamp without bounds;
  reshape->reshape and permute->permute chains composed into one (`drop_no_ops`);
- a bias merged: `add(linear(x, W), b)` with a constant b of N elements (shape
  [N] or [1, ..., 1, N]) becomes `linear(x, W, b)` when the linear has no bias and
  the add is its only reader (`merge_linear_bias`);
- dead nodes and unused constants removed (the frontend's `eliminate_dead_code`).

Every rewrite removes or replaces nodes, never adds one, and keeps each surviving
value's name and type, so layer names in reports stay those of the model.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bitsmith.ir.frontend.cleanup import eliminate_dead_code, renamed
from bitsmith.ir.graph import Constant, Graph, Node, Value
from bitsmith.ir.names import unique_name
from bitsmith.ir.interpret import run_node
from bitsmith.ir.ops import Op
from bitsmith.passes.base import PassContext, PassError, graph_pass

# Folding writes the result into the graph (and the saved model's .npz). Past this
# many elements a fold is skipped unless the result is no larger than its inputs:
# an `expand` of a small mask to [batch, heads, seq, seq] is cheap to compute and
# expensive to store, so storing it would trade a vector op for memory and disk.
MAX_FOLDED_ELEMENTS = 1 << 20


@graph_pass("canonicalize")
def canonicalize_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Fold constants, drop no-ops, merge linear biases, remove dead code."""
    return canonicalize(graph)


def canonicalize(graph: Graph) -> Graph:
    """`graph` in canonical form (module docstring); the same object when it already is.

    Runs before fuse_epilogue: a GEMM's epilogue names nodes these rewrites may
    remove, so a graph that already has one is refused rather than left with a
    dangling annotation."""
    fused = next((n for n in graph.nodes if n.attrs.get("epilogue")), None)
    if fused is not None:
        raise PassError(f"pass canonicalize: node %{fused.name} already has an epilogue; "
                        "canonicalize runs before fuse_epilogue")
    while True:
        current = graph
        for rewrite in (fold_constants, drop_no_ops, merge_linear_bias, eliminate_dead_code):
            current = rewrite(current)
        if current is graph:
            return graph
        graph = current


# --- constant folding ------------------------------------------------------------
def fold_constants(graph: Graph) -> Graph:
    """Nodes computed from constants alone become constants, in one sweep (a fold
    feeds the next node's). The result keeps the node's name and type; it is a
    `parameter` when it is computed from one (a transposed weight is still a weight
    that counts towards the model's size and gets quantised), else `folded`.
    Quantised and shape-only inputs are left alone: folding would drop the
    quantisation spec or has no data to fold."""
    known = {c.name: c for c in graph.constants}
    folded: list[Constant] = []
    nodes = []
    for node in graph.nodes:
        inputs = [known.get(name) for name in node.inputs]
        if _foldable(node, inputs):
            origin = "parameter" if any(c.origin == "parameter" for c in inputs) else "folded"
            const = Constant(node.output, run_node(node, [c.data for c in inputs]), origin)
            known[node.name] = const
            folded.append(const)
        else:
            nodes.append(node)
    if not folded:
        return graph
    return graph.replace(nodes=tuple(nodes), constants=graph.constants + tuple(folded))


def _foldable(node: Node, inputs: list[Constant | None]) -> bool:
    """Every input a constant with plain data, and a result worth storing (MAX_FOLDED_ELEMENTS)."""
    if not all(c is not None and c.data is not None and c.quant is None for c in inputs):
        return False
    size = node.type.numel
    return size <= MAX_FOLDED_ELEMENTS or size <= sum(c.type.numel for c in inputs)


# --- no-ops ------------------------------------------------------------------------
def drop_no_ops(graph: Graph) -> Graph:
    """Drop nodes that return their input and compose reshape and permute chains,
    in one sweep: uses of a dropped node are redirected to its input."""
    renames: dict[str, str] = {}
    made: dict[str, Node] = {}  # the nodes kept so far, as rewritten
    changed = False
    for node in graph.nodes:
        inputs = tuple(renames.get(name, name) for name in node.inputs)  # targets are already followed
        rewritten = _compose(dataclasses.replace(node, inputs=inputs), made)
        kept = _passes_through(graph, rewritten)
        if kept is not None:
            renames[node.name] = kept
            changed = True
        else:
            made[node.name] = rewritten
            changed |= rewritten.inputs != node.inputs or rewritten.attrs != node.attrs
    if not changed:
        return graph
    return renamed(graph, list(made.values()), renames)


def _compose(node: Node, made: dict[str, Node]) -> Node:
    """reshape(reshape(x)) -> reshape(x); permute(permute(x, p), q) -> permute(x, p∘q)."""
    inner = made.get(node.inputs[0]) if node.inputs else None
    if inner is None or inner.op is not node.op:
        return node
    if node.op is Op.RESHAPE:
        return dataclasses.replace(node, inputs=inner.inputs)
    if node.op is Op.PERMUTE:
        outer_perm, inner_perm = node.attrs["perm"], inner.attrs["perm"]
        perm = tuple(inner_perm[axis] for axis in outer_perm)
        return dataclasses.replace(node, inputs=inner.inputs, attrs={**node.attrs, "perm": perm})
    return node


def _passes_through(graph: Graph, node: Node) -> str | None:
    """The input `node` returns unchanged, or None if it computes something."""
    attrs = node.attrs
    match node.op:
        case Op.RESHAPE | Op.EXPAND | Op.CAST:
            identity = _same_type(graph, node.inputs[0], node)
        case Op.PERMUTE:
            identity = attrs["perm"] == tuple(range(node.type.rank))
        case Op.SLICE:
            size = graph.value(node.inputs[0]).type.shape[attrs["axis"]]
            identity = attrs["step"] == 1 and range(size)[attrs["start"]:attrs["end"]] == range(size)
        case Op.CONCAT:
            identity = len(node.inputs) == 1
        case Op.CLAMP:
            identity = attrs["min"] is None and attrs["max"] is None
        case Op.ADD | Op.SUB | Op.MUL | Op.DIV:
            return _neutral_operand(graph, node)
        case _:
            identity = False
    return node.inputs[0] if identity else None


# op -> (its neutral element, the operand positions it may take: 0 - x is not x)
_NEUTRAL: dict[Op, tuple[float, tuple[int, ...]]] = {
    Op.ADD: (0.0, (0, 1)), Op.SUB: (0.0, (1,)), Op.MUL: (1.0, (0, 1)), Op.DIV: (1.0, (1,)),
}


def _neutral_operand(graph: Graph, node: Node) -> str | None:
    """x for `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1` when the result's
    type is x's (a zero that broadcasts x up, or promotes it, is not a no-op)."""
    element, positions = _NEUTRAL[node.op]
    for position in positions:
        const = graph.constant(node.inputs[position])
        other = node.inputs[1 - position]
        if (const is not None and const.data is not None and bool(np.all(const.data == element))
                and _same_type(graph, other, node)):
            return other
    return None


def _same_type(graph: Graph, name: str, node: Node) -> bool:
    t = graph.value(name).type
    return (t.shape, t.dtype) == (node.type.shape, node.type.dtype)


# --- bias merging ----------------------------------------------------------------------
def merge_linear_bias(graph: Graph) -> Graph:
    """`add(linear(x, W), b)` -> `linear(x, W, b)` (module docstring). The merged
    node keeps the linear's name (its layer name); a [1, ..., 1, N] bias is
    reshaped to the [N] a linear takes. Exact: the linear adds its bias to the same
    product with the same rounding."""
    replace: dict[str, Node] = {}
    drop: set[str] = set()
    renames: dict[str, str] = {}
    constants = list(graph.constants)
    names = {c.name for c in constants} | {n.name for n in graph.nodes} | {v.name for v in graph.inputs}
    for add in graph.nodes:
        match = _bias_add(graph, add) if add.op is Op.ADD else None
        if match is None:
            continue
        linear, bias = match
        if bias.type.rank != 1:
            bias = _as_vector(bias, unique_name(f"{linear.name}.bias", names))
            names.add(bias.name)
            constants.append(bias)
        replace[linear.name] = dataclasses.replace(linear, inputs=(*linear.inputs, bias.name))
        drop.add(add.name)
        renames[add.name] = linear.name
    if not replace:
        return graph
    nodes = [replace.get(n.name, n) for n in graph.nodes if n.name not in drop]
    return renamed(graph, nodes, renames, constants)


def _bias_add(graph: Graph, add: Node) -> tuple[Node, Constant] | None:
    """(linear, bias constant) when `add` adds a bias to a bias-less linear it alone reads."""
    for position in (0, 1):
        linear = graph.producer(add.inputs[position])
        bias = graph.constant(add.inputs[1 - position])
        if (linear is None or linear.op is not Op.LINEAR or len(linear.inputs) != 2 or bias is None
                or len(graph.users(linear.name)) != 1 or linear.name in graph.outputs):
            continue
        n, shape = linear.type.shape[-1], bias.type.shape
        if (shape[-1:] == (n,) and math.prod(shape) == n and bias.type.dtype == linear.type.dtype
                and _same_type(graph, linear.name, add)):
            return linear, bias
    return None


def _as_vector(bias: Constant, name: str) -> Constant:
    value = Value(name, dataclasses.replace(bias.type, shape=(bias.type.shape[-1],), layout=""))
    return Constant(value, None if bias.data is None else bias.data.reshape(-1), bias.origin)
