"""Reads the IR's text form (`ir/printer.py`) back into a Graph.

Tests state Before/Expected graphs as text, and a printed graph can be edited by
hand and reloaded. The text form carries no tensor data, so constants come back
shape-only, except scalar literals, whose value is printed; a quantised weight
comes back with a shape-only spec (its format choice, no codes). Omitted attributes take
their defaults, as the printer leaves defaults out.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import numpy as np

from bitsmith.ir import dtypes
from bitsmith.ir.errors import BitsmithError, GraphFormatError, VerifyError
from bitsmith.ir.formats.schemes import spec_from_summary
from bitsmith.ir.graph import CONSTANT_ORIGINS, Constant, Graph, Node, Value
from bitsmith.ir.ops import op_by_name
from bitsmith.ir.types import TensorType
from bitsmith.ir.verify import complete_attrs

_NAME = r"[A-Za-z0-9_.]+"
_TYPE = r"(?P<dtype>\w+)\[(?P<shape>[0-9,]*)\](?:@(?P<layout>\w+))?"
_HEADER = re.compile(rf"graph (?P<name>{_NAME})\((?P<params>.*)\) \{{$")
_PARAM = re.compile(rf"%(?P<name>{_NAME}): {_TYPE}$")
_CONST = re.compile(rf"%(?P<name>{_NAME}) = const {_TYPE} (?P<origin>\w+)(?: (?P<rest>.+))?$")
_NODE = re.compile(rf"%(?P<name>{_NAME}) = (?P<op>\w+)\((?P<args>.*)\) : {_TYPE}$")
_QUANT = re.compile(r"(?:^| )quant\((?P<spec>[^()]*)\)$")
_RETURN = re.compile(r"return (?P<names>.*)$")


def parse_graph(text: str) -> Graph:
    """The graph `text` describes; raises GraphFormatError naming the line."""
    lines = [(i + 1, line.strip()) for i, line in enumerate(text.strip().splitlines()) if line.strip()]
    if not lines or lines[-1][1] != "}":
        raise GraphFormatError("text form: must end with '}'")
    number, first = lines[0]
    header = _HEADER.match(first)
    if header is None:
        raise GraphFormatError(f"line {number}: expected 'graph NAME(%input: type, ...) {{'")
    inputs = [Value(m["name"], _type(m, number)) for m in
              (_match(_PARAM, p.strip(), number) for p in _split_top_level(header["params"]) if p.strip())]
    constants: list[Constant] = []
    nodes: list[Node] = []
    outputs: tuple[str, ...] | None = None
    for number, line in lines[1:-1]:
        if outputs is not None:
            raise GraphFormatError(f"line {number}: nothing may follow 'return'")
        if (m := _CONST.match(line)) is not None:
            constants.append(_constant(m, number))
        elif (m := _NODE.match(line)) is not None:
            nodes.append(_node(m, number))
        elif (m := _RETURN.match(line)) is not None:
            outputs = tuple(n.strip().removeprefix("%") for n in m["names"].split(","))
        else:
            raise GraphFormatError(f"line {number}: cannot read {line!r}")
    if outputs is None:
        raise GraphFormatError("text form: no 'return' line")
    return Graph(header["name"], tuple(inputs), tuple(constants), tuple(nodes), outputs)


def _match(pattern: re.Pattern[str], text: str, number: int) -> re.Match[str]:
    m = pattern.match(text)
    if m is None:
        raise GraphFormatError(f"line {number}: cannot read {text!r}")
    return m


def _type(m: re.Match[str], number: int) -> TensorType:
    try:
        dtype = dtypes.dtype(m["dtype"])
    except KeyError as err:
        raise GraphFormatError(f"line {number}: {err.args[0]}") from None
    shape = tuple(int(d) for d in m["shape"].split(",") if d)
    return TensorType(shape, dtype, m["layout"] or "")


def _constant(m: re.Match[str], number: int) -> Constant:
    if m["origin"] not in CONSTANT_ORIGINS:
        raise GraphFormatError(f"line {number}: origin must be one of {', '.join(CONSTANT_ORIGINS)}")
    t = _type(m, number)
    rest = m["rest"]
    quant = None
    if rest is not None and (q := _QUANT.search(rest)) is not None:
        try:
            quant = spec_from_summary(q["spec"], t.shape)
        except BitsmithError as err:
            raise GraphFormatError(f"line {number}: {err}") from None
        rest = rest[: q.start()].rstrip() or None
    if rest is None or rest == "shape-only":
        try:
            return Constant(Value(m["name"], t), None, m["origin"], quant)
        except ValueError as err:
            raise GraphFormatError(f"line {number}: {err}") from None
    if t.shape != ():
        raise GraphFormatError(f"line {number}: only 0-d constants print a value")
    return Constant(Value(m["name"], t), np.asarray(_literal(rest, number), dtype=t.dtype.to_numpy()), m["origin"])


def _node(m: re.Match[str], number: int) -> Node:
    try:
        op = op_by_name(m["op"])
    except KeyError as err:
        raise GraphFormatError(f"line {number}: {err.args[0]}") from None
    inputs, attrs = [], {}
    for arg in (a.strip() for a in _split_top_level(m["args"])):
        if arg.startswith("%"):
            inputs.append(arg[1:])
        elif "=" in arg:
            key, value = arg.split("=", 1)
            attrs[key.strip()] = _literal(value.strip(), number)
        elif arg:
            raise GraphFormatError(f"line {number}: argument {arg!r} is neither %value nor key=value")
    try:
        attrs = complete_attrs(op, attrs, m["name"])
    except VerifyError as err:
        raise GraphFormatError(f"line {number}: {err}") from None
    return Node(op, tuple(inputs), Value(m["name"], _type(m, number)), attrs)


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


_NAMED_FLOATS = {"inf": math.inf, "nan": math.nan, "True": True, "False": False, "None": None}


def _literal(text: str, number: int) -> Any:
    """A printed attribute value: numbers, strings, booleans, None, inf/nan, tuples."""
    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in _NAMED_FLOATS:
            return _NAMED_FLOATS[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        raise ValueError(ast.dump(node))

    try:
        return value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError):
        raise GraphFormatError(f"line {number}: cannot read the value {text!r}") from None
