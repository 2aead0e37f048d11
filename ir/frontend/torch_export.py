"""`from_torch`: a torch.nn.Module becomes an IR `Graph` through torch.export.

The module is exported, decomposed to core ATen (keeping the composite ops the IR
has as single ops: linear, attention, layer and RMS norm, GELU, SiLU), and walked
node by node. Anything that depends only on buffers and literals (causal masks,
rotary tables, position ids) is evaluated by torch at lowering time and becomes a
constant, so the graph holds only the work done per inference. Weights on torch's
meta device become shape-only constants: a 7B-parameter model lowers in a few MB.
A few clean-ups then run on the graph (`ir/frontend/cleanup.py`): batch-norm
folding into the preceding convolution, RMS-norm recognition, dead-code removal.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
import warnings
from collections.abc import Sequence
from typing import Any

import ml_dtypes
import numpy as np
import torch
import torch.fx

from bitsmith.ir import dtypes
from bitsmith.ir.dtypes import DType
from bitsmith.ir.errors import ExportError, UnsupportedOpError
from bitsmith.ir.graph import Graph, GraphBuilder
from bitsmith.ir.ops import Op
from bitsmith.ir.types import TensorType

_TORCH_DTYPES: dict[torch.dtype, DType] = {
    torch.float64: dtypes.F64,
    torch.float32: dtypes.F32,
    torch.float16: dtypes.F16,
    torch.bfloat16: dtypes.BF16,
    torch.int64: dtypes.I64,
    torch.int32: dtypes.I32,
    torch.int16: dtypes.I16,
    torch.int8: dtypes.I8,
    torch.uint8: dtypes.U8,
    torch.bool: dtypes.BOOL,
}

# Composite ops the IR represents directly; decomposing them would lose structure
# the passes and the cost model need (a GEMM's weight, an attention block).
_PRESERVED = (
    "linear.default",
    "scaled_dot_product_attention.default",
    "layer_norm.default",
    "rms_norm.default",
    "gelu.default",
    "silu.default",
)

# Ops that only assert or alias: their output is their first input.
_IDENTITY = {
    "aten.clone.default", "aten.alias.default", "aten.detach.default", "aten.lift_fresh_copy.default",
    "aten.contiguous.default", "aten.dropout.default",
}
# Ops with no result the graph needs.
_IGNORED = {"aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default"}
# Ops whose result depends only on their input's shape and dtype.
_LIKE = {"aten.full_like.default", "aten.zeros_like.default", "aten.ones_like.default", "aten.empty_like.default"}


def ir_dtype(dtype: torch.dtype, where: str = "") -> DType:
    try:
        return _TORCH_DTYPES[dtype]
    except KeyError:
        raise UnsupportedOpError(f"unsupported dtype {dtype}{' in ' + where if where else ''}") from None


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def export(module: torch.nn.Module, example_inputs: Sequence[Any]) -> torch.export.ExportedProgram:
    """torch.export, decomposed to core ATen but keeping the IR's composite ops."""
    try:
        with warnings.catch_warnings():  # torch's own deprecation chatter, not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.export.export(module, tuple(example_inputs))
    except Exception as err:  # torch raises many types; the user needs the reason, once
        reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise ExportError(f"torch.export failed on {type(module).__name__}: {reason}") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return program.run_decompositions(_decomposition_table())


@functools.cache
def _decomposition_table() -> dict:
    """torch's core-ATen decompositions minus the IR's composite ops, built once:
    torch materialises its lazy table on every `run_decompositions` otherwise, a
    quarter of the cost of lowering a small module. (`run_decompositions` copies
    the table it is given, so the cached one is never changed.)"""
    table = torch.export.default_decompositions()
    for name in _PRESERVED:
        table.pop(getattr(torch.ops.aten, name.split(".")[0]).default, None)
    return dict(table.materialize())


def from_torch(
    module: torch.nn.Module,
    example_inputs: Sequence[Any],
    *,
    name: str | None = None,
    input_names: Sequence[str] | None = None,
) -> Graph:
    """Lower `module` (called on `example_inputs`) to a verified IR graph."""
    from bitsmith.ir.frontend.cleanup import clean_up

    module = module.eval()
    program = export(module, example_inputs)
    graph = _Lowering(program, name or type(module).__name__, input_names).run()
    return clean_up(graph).verify()


_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+)')


def origin_of(node: torch.fx.Node) -> str:
    """Where an exported node came from: the innermost source line of its stack
    trace (`model.py:4 in forward: return torch.cumsum(x, 0)`) and its module path."""
    lines = [line.strip() for line in (node.meta.get("stack_trace") or "").strip().splitlines()]
    frames = [(i, m) for i, line in enumerate(lines) if (m := _FRAME.match(line))]
    if frames:
        i, frame = frames[-1]
        code = lines[i + 1] if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
        where = f"{frame['path']}:{frame['line']} in {frame['function']}" + (f": {code}" if code else "")
    else:
        where = "unknown source"
    stack = node.meta.get("nn_module_stack") or {}
    module = next(reversed(stack.values()))[0] if stack else ""
    return f"{where}{', module ' + module if module else ''}"


def _wrapper_prefix(paths: Sequence[str]) -> str:
    """The dotted prefix all parameter paths share (`lm.` when a zoo wrapper holds
    the model as `self.lm`), dropped from IR names so they read like the model."""
    if not paths:
        return ""
    parts = [p.split(".")[:-1] for p in paths]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "".join(f"{c}." for c in common)


class _Lowering:
    """State of one lowering: the builder, and what each fx node became."""

    def __init__(self, program: torch.export.ExportedProgram, name: str, input_names: Sequence[str] | None) -> None:
        self.program = program
        self.builder = GraphBuilder(name)
        self.env: dict[torch.fx.Node, Any] = {}
        self.tensors: dict[str, torch.Tensor] = {}  # constant name -> its torch tensor (for folding)
        self.parameters: set[str] = set()
        self.literals: dict[tuple[Any, str], str] = {}
        self.used_names: set[str] = set()
        self.folded: dict[tuple[TensorType, bytes], str] = {}  # content -> constant, for folded values
        self.input_names = list(input_names) if input_names is not None else None
        self.prefix = _wrapper_prefix([spec.target for spec in program.graph_signature.input_specs if spec.target])

    # --- entry ------------------------------------------------------------------
    def run(self) -> Graph:
        from bitsmith.ir.frontend.aten_ops import CONVERTERS

        graph = self.program.graph_module.graph
        self._placeholders([n for n in graph.nodes if n.op == "placeholder"])
        outputs: list[str] = []
        for node in graph.nodes:
            if node.op == "call_function":
                self.env[node] = self._call(node, CONVERTERS)
            elif node.op == "output":
                outputs = [self.name_of(arg) for arg in torch.utils._pytree.tree_leaves(node.args[0])
                           if isinstance(arg, torch.fx.Node)]
        return self.builder.build(outputs)

    def _placeholders(self, nodes: list[torch.fx.Node]) -> None:
        signature = self.program.graph_signature
        kinds = torch.export.graph_signature.InputKind
        state = {**self.program.state_dict, **self.program.constants}
        user_index = 0
        for spec, node in zip(signature.input_specs, nodes):
            if spec.kind == kinds.USER_INPUT:
                wanted = self.input_names[user_index] if self.input_names else node.name
                user_index += 1
                value = node.meta["val"]
                self.env[node] = self.builder.input(wanted, TensorType(value.shape, ir_dtype(value.dtype, wanted)))
            else:
                origin = "parameter" if spec.kind == kinds.PARAMETER else "buffer"
                self.env[node] = self.add_tensor_constant(self.short(spec.target), state[spec.target], origin)
                if origin == "parameter":
                    self.parameters.add(self.env[node])

    def short(self, path: str) -> str:
        """A module or parameter path without the wrapper prefix every path shares."""
        return path[len(self.prefix):] if path.startswith(self.prefix) else path

    # --- constants ----------------------------------------------------------------
    def add_tensor_constant(self, name: str, tensor: torch.Tensor, origin: str, layout: str = "") -> str:
        """A constant for `tensor`; shape-only when it is on the meta device. Folded
        values with equal contents share one constant (each layer of a transformer
        recomputes the same rotary tables)."""
        t = TensorType(tensor.shape, ir_dtype(tensor.dtype, name), layout)
        if tensor.device.type == "meta":
            const = self.builder.constant(name, type=t, origin=origin)
        else:
            data = to_numpy(tensor)
            key = (t, hashlib.sha256(data.tobytes()).digest()) if origin == "folded" else None
            if key in self.folded:
                return self.folded[key]
            const = self.builder.constant(name, data=data, origin=origin, type=t)
            if key is not None:
                self.folded[key] = const
        self.tensors[const] = tensor
        return const

    def literal(self, value: float | int | bool, dtype: DType) -> str:
        """A 0-d constant for a Python scalar operand, shared by scalars with the same
        bits in `dtype` (so 1 and 1.0 share one, but 0.0 and -0.0 do not)."""
        array = np.asarray(value, dtype=dtype.to_numpy())
        key = (array.tobytes(), dtype.name)
        if key not in self.literals:
            self.literals[key] = self.builder.constant("c", data=array, origin="literal")
            self.tensors[self.literals[key]] = torch.from_numpy(array.copy()) if dtype != dtypes.BF16 else torch.tensor(value, dtype=torch.bfloat16)
        return self.literals[key]

    # --- one node --------------------------------------------------------------------
    def _call(self, node: torch.fx.Node, converters: dict) -> Any:
        target = str(node.target)
        if node.target is operator.getitem:
            return self._getitem(node)
        if target in _IGNORED:
            return None
        if target in _IDENTITY:
            return self.env[node.args[0]]
        if self._foldable(node):
            return self._fold(node)
        converter = converters.get(target)
        if converter is None:
            raise UnsupportedOpError(f"unsupported op {target} (from {origin_of(node)})")
        return converter(self, node)

    def _getitem(self, node: torch.fx.Node) -> Any:
        """One output of a multi-output op. An output with no IR counterpart (the
        indices of max_pool2d, the statistics of a layer norm) becomes None, and is
        an error only where something reads it (`name_of`): torch often keeps such
        getitems in the graph although nothing uses them."""
        source, index = node.args
        parts = self.env[source]
        if not isinstance(parts, tuple):
            raise UnsupportedOpError(f"unsupported use of output {index} of {source.target} (from {origin_of(node)})")
        return parts[index]

    def _inputs(self, node: torch.fx.Node) -> list[torch.fx.Node]:
        return [a for a in torch.utils._pytree.tree_leaves((node.args, node.kwargs)) if isinstance(a, torch.fx.Node)]

    def _foldable(self, node: torch.fx.Node) -> bool:
        """True when the node's result is known at compile time: every tensor it reads
        is a buffer, literal or folded value (never a parameter: weights stay weights)."""
        if str(node.target) in _LIKE:
            return True
        for arg in self._inputs(node):
            name = self.env.get(arg)
            if not isinstance(name, str) or name not in self.tensors or name in self.parameters:
                return False
        return True

    def _fold(self, node: torch.fx.Node) -> Any:
        inputs = self._inputs(node)
        on_meta = str(node.target) not in _LIKE and any(self.tensors[self.env[a]].device.type == "meta" for a in inputs)
        device = torch.device("meta" if on_meta else "cpu")

        def materialise(arg: Any) -> Any:
            if isinstance(arg, torch.fx.Node):
                if str(node.target) in _LIKE:
                    val = arg.meta["val"]
                    return torch.zeros(val.shape, dtype=val.dtype, device=device)
                return self.tensors[self.env[arg]].to(device)
            if isinstance(arg, torch.device):
                return device
            return arg

        args, kwargs = torch.utils._pytree.tree_map(materialise, (tuple(node.args), dict(node.kwargs)))
        with torch.no_grad():
            result = node.target(*args, **kwargs)
            if str(node.target).startswith("aten.empty"):
                result = result.zero_()  # any value is right; zeros keep lowering deterministic
        if isinstance(result, torch.Tensor):
            return self.add_tensor_constant(node.name, result, "folded")
        if isinstance(result, (tuple, list)):
            return tuple(self.add_tensor_constant(f"{node.name}_{i}", r, "folded") if isinstance(r, torch.Tensor) else None
                         for i, r in enumerate(result))
        raise UnsupportedOpError(f"cannot fold {node.target} (from {origin_of(node)}): returns {type(result).__name__}")

    # --- helpers for converters --------------------------------------------------------
    def name_of(self, arg: Any) -> str:
        value = self.env[arg]
        if isinstance(value, str):
            return value
        if arg.target is operator.getitem:
            source, index = arg.args
            raise UnsupportedOpError(f"unsupported use of output {index} of {source.target} (from {origin_of(arg)})")
        raise UnsupportedOpError(f"{arg.target} produced no single tensor (from {origin_of(arg)})")

    def tensor(self, arg: Any, like: DType) -> str:
        """The IR value for an operand: an fx node's value, or a literal for a scalar."""
        if isinstance(arg, torch.fx.Node):
            return self.name_of(arg)
        return self.literal(arg, like)

    def out_type(self, node: torch.fx.Node) -> TensorType:
        """What torch says `node` produces. A size torch knows only at run time (the
        length of a boolean-mask selection or of `nonzero`) has no static IR type."""
        val = node.meta["val"]
        if not all(isinstance(d, int) for d in val.shape):
            raise UnsupportedOpError(
                f"{node.target} has a data-dependent shape {list(val.shape)} (from {origin_of(node)})")
        return TensorType(tuple(val.shape), ir_dtype(val.dtype, str(node.target)))

    def type_of(self, name: str) -> TensorType:
        return self.builder.type_of(name)

    def emit(self, op: Op, inputs: Sequence[str], attrs: dict[str, Any] | None = None, *,
             node: torch.fx.Node, check: bool = True, layout: str = "") -> str:
        """Append an IR node for (part of) an fx node; when `check`, its inferred type
        must equal what torch says the fx node produces."""
        name = self.builder.op(op, inputs, attrs, name=self._pick_name(op, node), layout=layout)
        if check:
            ours, theirs = self.type_of(name), self.out_type(node)
            if (ours.shape, ours.dtype) != (theirs.shape, theirs.dtype):
                raise UnsupportedOpError(
                    f"lowering {node.target} as {op.value} gives {ours}, torch says {theirs} (from {origin_of(node)})")
        return name

    def _pick_name(self, op: Op, node: torch.fx.Node) -> str:
        """Layers are named by their module path (`layers.0.mlp.down_proj`), so
        per-layer tables read like the model; everything else keeps torch's name."""
        stack = node.meta.get("nn_module_stack") or {}
        if op in (Op.LINEAR, Op.CONV2D, Op.EMBEDDING, Op.LAYER_NORM, Op.RMS_NORM, Op.ATTENTION) and stack:
            path = self.short(next(reversed(stack.values()))[0])
            if path and path not in self.used_names:
                self.used_names.add(path)
                return path
        return node.name
