"""Graph clean-ups right after lowering, each a function Graph -> Graph.

They undo artefacts of decomposition and export so the IR states what the model
computes: batch-norm folded into the convolution before it, the spelled-out RMS
norm of Hugging Face models recognised as one op, identity gathers turned into
reshapes, dead nodes and unused constants removed, weight layouts named.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bitsmith.ir.graph import Constant, Graph, Node, Value
from bitsmith.ir.ops import Op


def clean_up(graph: Graph) -> Graph:
    from bitsmith.ir.frontend.fusions import fuse_rms_norm, fuse_tanh_gelu

    for step in (identity_take_to_reshape, fold_affine_into_conv, fuse_rms_norm, fuse_tanh_gelu,
                 eliminate_dead_code, name_weight_layouts):
        graph = step(graph)
    return graph


def renamed(graph: Graph, nodes: list[Node], renames: dict[str, str], constants: list[Constant] | None = None) -> Graph:
    """`graph` with `nodes`, every use of a key of `renames` pointing at its value."""
    def follow(name: str) -> str:
        while name in renames:
            name = renames[name]
        return name

    nodes = [dataclasses.replace(n, inputs=tuple(follow(i) for i in n.inputs)) for n in nodes]
    return graph.replace(nodes=nodes, outputs=tuple(follow(o) for o in graph.outputs),
                         constants=graph.constants if constants is None else constants)


def scalar_value(graph: Graph, name: str) -> float | None:
    const = graph.constant(name)
    if const is None or const.data is None or const.data.size != 1:
        return None
    return float(const.data.reshape(()))


def identity_take_to_reshape(graph: Graph) -> Graph:
    """A gather whose flat indices are 0, 1, 2, ... in order is only a reshape."""
    nodes = []
    for node in graph.nodes:
        const = graph.constant(node.inputs[1]) if node.op is Op.TAKE else None
        x_type = graph.value(node.inputs[0]).type if node.op is Op.TAKE else None
        if (const is not None and const.data is not None and const.data.size == x_type.numel
                and np.array_equal(const.data.reshape(-1), np.arange(const.data.size))):
            node = Node(Op.RESHAPE, (node.inputs[0],), node.output, {"shape": node.type.shape})
        nodes.append(node)
    return graph.replace(nodes=nodes)


def fold_affine_into_conv(graph: Graph) -> Graph:
    """conv -> mul(per-channel scale) -> add(per-channel shift) becomes one conv
    with scaled weights and a shifted bias: inference batch-norm costs nothing."""
    replace: dict[str, Node] = {}
    drop: set[str] = set()
    renames: dict[str, str] = {}
    constants = list(graph.constants)
    for add in graph.nodes:
        mul = graph.producer(add.inputs[0]) if add.op is Op.ADD else None
        conv = graph.producer(mul.inputs[0]) if mul is not None and mul.op is Op.MUL else None
        if conv is None or conv.op is not Op.CONV2D or len(graph.users(conv.name)) != 1 or len(graph.users(mul.name)) != 1:
            continue
        scale, shift, weight = (graph.constant(n) for n in (mul.inputs[1], add.inputs[1], conv.inputs[1]))
        bias = graph.constant(conv.inputs[2]) if len(conv.inputs) == 3 else None
        channels = conv.type.shape[1]
        if (scale is None or shift is None or weight is None or (len(conv.inputs) == 3 and bias is None)
                or scale.type.shape != (channels, 1, 1) or shift.type.shape != (channels, 1, 1)):
            continue
        new_weight, new_bias = _folded_conv_params(conv, weight, bias, scale, shift)
        constants += [new_weight, new_bias]
        replace[conv.name] = dataclasses.replace(conv, inputs=(conv.inputs[0], new_weight.name, new_bias.name))
        drop |= {mul.name, add.name}
        renames[add.name] = conv.name
    if not replace:
        return graph
    nodes = [replace.get(n.name, n) for n in graph.nodes if n.name not in drop]
    return renamed(graph, nodes, renames, constants)


def _folded_conv_params(conv: Node, weight: Constant, bias: Constant | None, scale: Constant,
                        shift: Constant) -> tuple[Constant, Constant]:
    out_channels = weight.type.shape[0]
    w_type = weight.type
    b_type = dataclasses.replace(shift.type, shape=(out_channels,), layout="")
    names = (f"{conv.name}.weight_folded", f"{conv.name}.bias_folded")
    if any(c is not None and c.data is None for c in (weight, bias, scale, shift)):
        return Constant(Value(names[0], w_type)), Constant(Value(names[1], b_type))
    s = scale.data.reshape(out_channels)
    w = (weight.data * s.reshape(-1, 1, 1, 1)).astype(weight.data.dtype)
    b = (bias.data if bias is not None else 0) * s + shift.data.reshape(out_channels)
    return (Constant(Value(names[0], w_type), w),
            Constant(Value(names[1], b_type), b.astype(shift.data.dtype)))


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes no output depends on, then constants nothing reads."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if node.name in live:
            kept.append(node)
            live.update(node.inputs)
    constants = tuple(c for c in graph.constants if c.name in live)
    if len(kept) == len(graph.nodes) and len(constants) == len(graph.constants):
        return graph
    return graph.replace(nodes=tuple(reversed(kept)), constants=constants)


_WEIGHT_LAYOUT = {Op.LINEAR: "NK", Op.CONV2D: "OIHW"}


def name_weight_layouts(graph: Graph) -> Graph:
    """Mark GEMM weights with their axis names (NK for linear, OIHW for conv)."""
    wanted: dict[str, set[str]] = {}
    for node in graph.nodes:
        if node.op in _WEIGHT_LAYOUT and graph.constant(node.inputs[1]) is not None:
            wanted.setdefault(node.inputs[1], set()).add(_WEIGHT_LAYOUT[node.op])
    constants = []
    for const in graph.constants:
        layouts = wanted.get(const.name, set())
        if len(layouts) == 1 and not const.type.layout:
            value = Value(const.name, dataclasses.replace(const.type, layout=layouts.pop()))
            const = Constant(value, const.data, const.origin)
        constants.append(const)
    return graph.replace(constants=tuple(constants))
