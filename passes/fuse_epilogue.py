"""fuse_epilogue: name, on each GEMM, the elementwise ops that run on its output as
it drains from the array (the `epilogue` attribute, ir/ops.py), where the target's
vector unit can apply them there (`vector_unit.epilogue` in its YAML).

A fused chain's intermediate values never go to memory: the simulator charges the
GEMM's output once, after the epilogue, and hides the chain's vector work behind
the GEMM's cycles (simulator/engines/vector.py). The graph computes the same
thing: nodes stay where they are, only the annotation is added.

A chain grows from the GEMM's output one node at a time while the value so far
is read by one node only and is no graph output, and that node is an op the
target lists, reads the value as exactly one operand, has as many elements as the
GEMM's output (no broadcasting up) and takes its other operands from values that
exist before the GEMM runs (a residual, a bias, constants). ir/verify.py checks
the same rules on any graph.
"""

from __future__ import annotations

import dataclasses

from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.ops import OP_SIGNATURES, Op, op_by_name
from bitsmith.passes.base import PassContext, graph_pass
from bitsmith.targets.accelerator import Accelerator

# The GEMM-like ops that carry an epilogue (those with the tiling attributes).
FUSING_OPS = frozenset(op for op, sig in OP_SIGNATURES.items() if "epilogue" in sig.attrs)


@graph_pass("fuse_epilogue")
def fuse_epilogue_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Fuse elementwise ops into the GEMM that produces their input, where the target allows."""
    target = ctx.target
    if not isinstance(target, Accelerator) or target.vector_unit is None or not target.vector_unit.epilogue:
        return graph
    return fuse_epilogues(graph, frozenset(op_by_name(name) for name in target.vector_unit.epilogue))


def fuse_epilogues(graph: Graph, fusable: frozenset[Op]) -> Graph:
    """`graph` with each GEMM's `epilogue` set to its longest chain of `fusable`
    ops (module docstring); the same object when every GEMM already has it."""
    position = {node.name: i for i, node in enumerate(graph.nodes)}
    nodes = []
    for node in graph.nodes:
        if node.op in FUSING_OPS:
            chain = epilogue_chain(graph, node, fusable, position)
            if chain != node.attrs["epilogue"]:
                node = dataclasses.replace(node, attrs={**node.attrs, "epilogue": chain})
        nodes.append(node)
    if all(new is old for new, old in zip(nodes, graph.nodes, strict=True)):
        return graph
    return graph.replace(nodes=tuple(nodes))


def epilogue_chain(graph: Graph, gemm: Node, fusable: frozenset[Op], position: dict[str, int]) -> tuple[str, ...]:
    """Names of the nodes that can run on `gemm`'s output as it drains, in order."""
    chain: list[str] = []
    current = gemm.name
    while current not in graph.outputs and len(graph.users(current)) == 1:
        follower = graph.users(current)[0]
        others = [name for name in follower.inputs if name != current]
        if (follower.op not in fusable or follower.inputs.count(current) != 1
                or follower.type.numel != gemm.type.numel
                or any(position.get(name, -1) > position[gemm.name] for name in others)):
            break
        chain.append(follower.name)
        current = follower.name
    return tuple(chain)
