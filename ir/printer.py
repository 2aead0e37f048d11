"""The IR's text form: one line per constant and per node, like MLIR or Relax.

    graph mlp(%x: f32[2,64]) {
      %fc1.weight = const f32[128,64]@NK parameter
      %fc1 = linear(%x, %fc1.weight, %fc1.bias) : f32[2,128]
      %relu = relu(%fc1) : f32[2,128]
      return %relu
    }

Attributes equal to their defaults are left out; scalar literals show their value;
shape-only constants (no data) are marked `shape-only`; a quantised weight shows
its spec, `quant(bitmod4 group=128 axis=1)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bitsmith.ir.ops import OP_SIGNATURES

if TYPE_CHECKING:
    from bitsmith.ir.graph import Constant, Graph, Node


def format_attr(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(format_attr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def format_constant(const: Constant) -> str:
    line = f"%{const.name} = const {const.type} {const.origin}"
    if const.data is None:
        line += " shape-only"
    elif const.data.size == 1 and const.data.ndim == 0:
        line += f" {const.data.item()!r}"
    if const.quant is not None:
        line += f" quant({const.quant.summary()})"
    return line


def format_node(node: Node) -> str:
    defaults = OP_SIGNATURES[node.op].attrs
    args = [f"%{name}" for name in node.inputs]
    args += [f"{k}={format_attr(v)}" for k, v in node.attrs.items() if defaults.get(k) != v]
    return f"%{node.name} = {node.op.value}({', '.join(args)}) : {node.type}"


def print_graph(graph: Graph) -> str:
    params = ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs)
    lines = [f"graph {graph.name}({params}) {{"]
    lines += [f"  {format_constant(c)}" for c in graph.constants]
    lines += [f"  {format_node(n)}" for n in graph.nodes]
    lines.append("  return " + ", ".join(f"%{name}" for name in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
