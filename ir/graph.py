"""The graph IR: `Value`, `Constant`, `Node` and `Graph`.

A graph is a DAG in SSA form. Every node has exactly one output, a `Value` named
like the node; inputs refer to values by name. Nodes are kept in topological order.
All four classes are frozen: a pass builds a new graph (`Graph.replace`, or a
`GraphBuilder`) rather than editing one in place, so a graph handed to the
simulator can never change under it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from bitsmith.ir.dtypes import DType
from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.names import sanitize_name, unique_name  # noqa: F401  (sanitize_name: re-exported)
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType

if TYPE_CHECKING:
    import networkx


@dataclass(frozen=True)
class Value:
    """A named, typed tensor: a graph input, a constant, or a node's output."""

    name: str
    type: TensorType


# Where a constant came from. Parameters count towards a model's size; buffers and
# folded values (masks, rotary tables) do not; literals are the scalars of `x + 1.0`.
CONSTANT_ORIGINS = ("parameter", "buffer", "folded", "literal")


@dataclass(frozen=True, eq=False)
class Constant:
    """A value known at compile time. `data` is None for a shape-only constant
    (a weight of a model built on torch's meta device): it can be costed but not run.

    A quantised weight carries a `QuantSpec` in `quant` (DESIGN §3: quantisation is
    data). Its `data` is then not given but derived: the spec's exact dequantised
    values rounded once to the constant's dtype, so everything that reads `data`
    (the interpreter, the simulator's checks) sees the quantised weight. A
    shape-only constant may carry a shape-only spec (the format choice alone).
    """

    value: Value
    data: np.ndarray | None = None
    origin: str = "parameter"
    quant: QuantSpec | None = None

    def __post_init__(self) -> None:
        if self.origin not in CONSTANT_ORIGINS:
            raise ValueError(f"constant {self.name}: origin must be one of {CONSTANT_ORIGINS}")
        if self.quant is not None:
            self._derive_data()
        elif self.data is not None:
            # A read-only view: the graph cannot change the data, and the caller's
            # array (often shared with a torch tensor) is neither copied nor frozen.
            data = np.array(self.data, order="C", copy=None).view()
            data.setflags(write=False)
            object.__setattr__(self, "data", data)

    def _derive_data(self) -> None:
        spec = self.quant
        if self.data is not None:
            raise ValueError(f"constant {self.name}: a quantised constant's data is derived from its quant spec; "
                             "pass one or the other")
        if spec.shape != self.type.shape:
            raise ValueError(f"constant {self.name}: quant spec is for shape {list(spec.shape)}, "
                             f"the constant is {self.type}")
        if not self.type.dtype.is_float:
            raise ValueError(f"constant {self.name}: only floating-point constants can be quantised, got {self.type}")
        if not spec.shape_only:
            data = spec.dequantize().astype(self.type.dtype.to_numpy())
            data.setflags(write=False)
            object.__setattr__(self, "data", data)

    @property
    def name(self) -> str:
        return self.value.name

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def shape_only(self) -> bool:
        return self.data is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Constant):
            return NotImplemented
        if (self.value, self.origin, self.shape_only) != (other.value, other.origin, other.shape_only):
            return False
        if self.quant is not None or other.quant is not None:
            return self.quant == other.quant
        return self.data is None or (
            self.data.dtype == other.data.dtype and self.data.tobytes() == other.data.tobytes()
        )

    __hash__ = None  # type: ignore[assignment]


AttrValue = int | float | bool | str | None | DType | tuple["AttrValue", ...]


def _freeze_attr(value: Any) -> AttrValue:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_attr(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class Node:
    """One operation: `output = op(*inputs, **attrs)`."""

    op: Op
    inputs: tuple[str, ...]
    output: Value
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "attrs", {k: _freeze_attr(v) for k, v in self.attrs.items()})

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def type(self) -> TensorType:
        return self.output.type

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Graph:
    """A whole model: inputs, constants, nodes in topological order, outputs."""

    name: str
    inputs: tuple[Value, ...]
    constants: tuple[Constant, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        for attr in ("inputs", "constants", "nodes", "outputs"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))

    # --- lookup -------------------------------------------------------------
    @cached_property
    def _values(self) -> dict[str, Value]:
        values: dict[str, Value] = {v.name: v for v in self.inputs}
        values.update((c.name, c.value) for c in self.constants)
        values.update((n.name, n.output) for n in self.nodes)
        return values

    @cached_property
    def _constants_by_name(self) -> dict[str, Constant]:
        return {c.name: c for c in self.constants}

    @cached_property
    def _producers(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def _users(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in dict.fromkeys(node.inputs):
                users.setdefault(name, []).append(node)
        return users

    def value(self, name: str) -> Value:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"graph {self.name}: no value named %{name}") from None

    def has_value(self, name: str) -> bool:
        return name in self._values

    def constant(self, name: str) -> Constant | None:
        """The constant named `name`, or None if it is an input or a node output."""
        return self._constants_by_name.get(name)

    def producer(self, name: str) -> Node | None:
        """The node computing `name`, or None for inputs and constants."""
        return self._producers.get(name)

    def users(self, name: str) -> list[Node]:
        """Nodes that read `name`, in graph order."""
        return self._users.get(name, [])

    def output_values(self) -> list[Value]:
        return [self.value(n) for n in self.outputs]

    @property
    def shape_only(self) -> bool:
        """True when some constant has no data, so the graph can be costed but not run."""
        return any(c.shape_only for c in self.constants)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    # --- building new graphs ------------------------------------------------
    def replace(self, **changes: Any) -> Graph:
        """A copy with some fields changed (e.g. `nodes=...`); self stays as it was."""
        return dataclasses.replace(self, **changes)

    def toposorted(self) -> Graph:
        """The same graph with nodes in a stable topological order (Kahn's
        algorithm, ties broken by current position); raises VerifyError on a cycle."""
        from bitsmith.ir.verify import toposort_nodes

        nodes = toposort_nodes(self)
        return self if nodes == list(self.nodes) else self.replace(nodes=nodes)

    # --- views ----------------------------------------------------------------
    def to_networkx(self) -> networkx.MultiDiGraph:
        """A networkx MultiDiGraph: one vertex per value (inputs, constants, nodes),
        one edge per operand from a value to the node that reads it (`concat(x, x)`
        has two, keyed by operand `index`). Vertex data: `kind`
        (input/constant/node), `type`, and `op` for nodes."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        for v in self.inputs:
            g.add_node(v.name, kind="input", type=v.type)
        for c in self.constants:
            g.add_node(c.name, kind="constant", type=c.type, origin=c.origin)
        for n in self.nodes:
            g.add_node(n.name, kind="node", type=n.type, op=n.op, attrs=dict(n.attrs))
            for i, src in enumerate(n.inputs):
                g.add_edge(src, n.name, key=i, index=i)
        return g

    def verify(self) -> Graph:
        """Check every IR rule; returns self so calls chain. Raises VerifyError."""
        from bitsmith.ir.verify import verify

        verify(self)
        return self

    def __str__(self) -> str:
        from bitsmith.ir.printer import print_graph

        return print_graph(self)

    def save(self, path: str) -> None:
        """Write `path` (JSON) and, when there is constant data, `path` with suffix `.npz`."""
        from bitsmith.ir.serialize import save

        save(self, path)

    @staticmethod
    def load(path: str) -> Graph:
        from bitsmith.ir.serialize import load

        return load(path)


class GraphBuilder:
    """Builds a graph node by node, inferring each node's output type.

    Names are made unique by suffixing `_1`, `_2`, ... so callers can pass the
    names they would like (a module path, a torch node name) without clashes.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._inputs: list[Value] = []
        self._constants: list[Constant] = []
        self._nodes: list[Node] = []
        self._types: dict[str, TensorType] = {}

    def _unique(self, wanted: str) -> str:
        return unique_name(wanted, self._types)

    def type_of(self, name: str) -> TensorType:
        return self._types[name]

    def input(self, name: str, type: TensorType) -> str:
        name = self._unique(name)
        self._inputs.append(Value(name, type))
        self._types[name] = type
        return name

    def constant(
        self,
        name: str,
        data: np.ndarray | None = None,
        type: TensorType | None = None,
        origin: str = "parameter",
    ) -> str:
        """Add a constant with data (type derived from it) or shape-only (type given)."""
        from bitsmith.ir.dtypes import from_numpy

        if data is not None:
            data = np.asarray(data)
            derived = TensorType(data.shape, from_numpy(data.dtype), type.layout if type else "")
            if type is not None and (type.shape, type.dtype) != (derived.shape, derived.dtype):
                raise ValueError(f"constant {name}: data is {derived}, type says {type}")
            type = derived
        elif type is None:
            raise ValueError(f"constant {name}: needs data or a type")
        name = self._unique(name)
        self._constants.append(Constant(Value(name, type), data, origin))
        self._types[name] = type
        return name

    def op(
        self,
        op: Op,
        inputs: Iterable[str],
        attrs: Mapping[str, Any] | None = None,
        name: str | None = None,
        layout: str = "",
    ) -> str:
        """Append `op(inputs, attrs)`; its type comes from the IR's shape rules."""
        from bitsmith.ir.shapes import infer_type
        from bitsmith.ir.verify import complete_attrs

        inputs = tuple(inputs)
        attrs = complete_attrs(op, dict(attrs or {}), where=name or op.value)
        out_type = infer_type(op, [self._types[i] for i in inputs], attrs, where=name or op.value)
        if layout:
            out_type = dataclasses.replace(out_type, layout=layout)
        name = self._unique(name or op.value)
        self._nodes.append(Node(op, inputs, Value(name, out_type), attrs))
        self._types[name] = out_type
        return name

    def build(self, outputs: Iterable[str]) -> Graph:
        return Graph(self.name, tuple(self._inputs), tuple(self._constants), tuple(self._nodes), tuple(outputs))
