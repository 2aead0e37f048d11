"""Functional simulation: a graph's values as the target computes them.

Every GEMM whose right operand is a weight constant (`linear`, `conv2d`, `matmul`
against a 2-D constant) is computed by the target's PE model (`PEModel.compute`:
Booth terms, bit-planes, table lookups, as the hardware does them) from the
weight's `QuantSpec` or, unquantised, its array; the bias is added and the result
rounded once to the node's dtype, as the reference interpreter does. Every other
node, attention and `matmul` of two activations included, runs on the reference
interpreter (`ir.interpret.run_node`): their right operands are activations the
graph holds in float, and the graph states no KV-cache quantisation for a PE
format to compute with, so the reference's arithmetic is the graph's meaning.

conv2d runs as im2col with the reduction ordered (kh, kw, C), not the usual
(C, kh, kw): the weight's quantisation groups run along C (`quantize_weights`), so
this order keeps every group contiguous along K, as the PE expects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bitsmith.ir.formats.spec import QuantSpec
from bitsmith.ir.graph import Constant, Graph, Node
from bitsmith.ir.interpret import bind_inputs, run_node
from bitsmith.ir.ops import Op
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.pe import PEModel, pe_model
from bitsmith.targets.accelerator import Accelerator

WeightOperand = QuantSpec | np.ndarray


@dataclass(frozen=True, eq=False)
class FunctionalRun:
    """`outputs` in graph-output order; `pe_layers`: the nodes the PE model
    computed; `values`: every value by name when asked to keep them, else only
    the outputs."""

    outputs: list[np.ndarray]
    pe_layers: tuple[str, ...]
    values: dict[str, np.ndarray]


def run_functional(graph: Graph, target: Accelerator, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
                   *, keep_values: bool = False) -> FunctionalRun:
    """Run `graph` on `inputs` (by name or in graph-input order) with its weight
    GEMMs on `target`'s PE (module docstring)."""
    if graph.shape_only:
        raise SimulationError(f"graph {graph.name} is shape-only: it can be costed but has no values to compute")
    pe = pe_model(target)
    env = bind_inputs(graph, inputs)
    env.update((c.name, c.data) for c in graph.constants)
    on_pe = []
    for node in graph.nodes:
        args = [env[name] for name in node.inputs]
        weight = graph.constant(node.inputs[1]) if len(node.inputs) > 1 else None
        if weight is not None and _runs_on_pe(node, weight):
            env[node.name] = _gemm_on_pe(pe, node, weight, args)
            on_pe.append(node.name)
        else:
            env[node.name] = run_node(node, args)
    values = env if keep_values else {name: env[name] for name in graph.outputs}
    return FunctionalRun([np.asarray(env[name]) for name in graph.outputs], tuple(on_pe), values)


def _runs_on_pe(node: Node, weight: Constant) -> bool:
    if node.op in (Op.LINEAR, Op.CONV2D):
        return True
    return node.op is Op.MATMUL and weight.type.rank == 2


def _operand(weight: Constant) -> WeightOperand:
    return weight.quant if weight.quant is not None else weight.data


def _gemm_on_pe(pe: PEModel, node: Node, weight: Constant, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    try:
        if node.op is Op.LINEAR:
            out = pe.compute(x.reshape(-1, x.shape[-1]), _operand(weight)).reshape(node.type.shape)
        elif node.op is Op.MATMUL:
            out = pe.compute(x.reshape(-1, x.shape[-1]), _transposed(_operand(weight))).reshape(node.type.shape)
        else:
            out = _conv2d(pe, node, _operand(weight), x)
    except SimulationError as err:
        raise SimulationError(f"layer %{node.name} ({node.op}): {err}") from None
    if len(args) == 3:  # bias
        bias = args[2].astype(np.float64)
        out = out + (bias.reshape(1, -1, 1, 1) if node.op is Op.CONV2D else bias)
    return np.asarray(out, dtype=node.type.dtype.to_numpy())


def _transposed(weight: WeightOperand) -> WeightOperand:
    """A `[K, N]` matmul operand as the `[N, K]` the PE takes. Its spec's groups run
    along K (axis 0) per column, so the per-group arrays (N rows) are unchanged."""
    if isinstance(weight, np.ndarray):
        return weight.T
    if weight.outlier_index is not None:
        raise SimulationError(f"{weight.scheme} matmul weights with an outlier side table are not laid out for a PE")
    return dataclasses.replace(weight, shape=weight.shape[::-1], axis=1, codes=weight.codes.T)


def _conv2d(pe: PEModel, node: Node, weight: WeightOperand, x: np.ndarray) -> np.ndarray:
    """conv2d as one im2col GEMM per group on the PE, reduction ordered (kh, kw, C)."""
    (sh, sw), (ph, pw), (dh, dw), groups = (node.attrs[a] for a in ("stride", "padding", "dilation", "groups"))
    n, _, oh, ow = node.type.shape
    o, cg, kh, kw = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]  # [n, c, oh, ow, kh, kw]
    cols = windows.transpose(0, 2, 3, 4, 5, 1).reshape(n * oh * ow, kh * kw, groups, cg)
    kernels = _conv_as_gemm(weight)
    og = o // groups
    out = np.concatenate([
        pe.compute(cols[:, :, g, :].reshape(n * oh * ow, kh * kw * cg), _rows(kernels, g * og, (g + 1) * og))
        for g in range(groups)
    ], axis=1)
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def _conv_as_gemm(weight: WeightOperand) -> WeightOperand:
    """`[O, C, kh, kw]` weights as `[O, kh·kw·C]`, groups contiguous along the new K."""
    if isinstance(weight, np.ndarray):
        o, c, kh, kw = weight.shape
        return weight.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)
    o, c, kh, kw = weight.shape
    if weight.scale_codes is not None:
        raise SimulationError(f"{weight.scheme} conv weights with second-level scale codes keep one channel scale "
                              f"per (output, kh, kw) row, which an [O, kh*kw*C] GEMM operand cannot hold")
    if weight.outlier_index is not None:
        raise SimulationError(f"{weight.scheme} conv weights with an outlier side table are not laid out for a PE")
    codes = weight.codes.transpose(0, 2, 3, 1).reshape(o, kh * kw * c)
    if weight.granularity == "tensor":
        return dataclasses.replace(weight, shape=codes.shape, axis=1, codes=codes)
    group = weight.group_size or c  # "channel": one scale per (o, kh, kw) row, i.e. per run of C
    per_group = {name: getattr(weight, name).reshape(o, -1) for name in ("format_ids", "scales", "zero_points")
                 if getattr(weight, name) is not None}
    return dataclasses.replace(weight, shape=codes.shape, axis=1, granularity="group", group_size=group,
                               codes=codes, **per_group)


def _rows(weight: WeightOperand, start: int, stop: int) -> WeightOperand:
    """Output rows `start:stop` of an `[N, K]` operand (one conv group's kernels)."""
    if isinstance(weight, np.ndarray):
        return weight[start:stop]
    if (start, stop) == (0, weight.shape[0]):
        return weight
    per_row = ("codes",) if weight.granularity == "tensor" else ("codes", "format_ids", "scales", "zero_points")
    sliced = {name: getattr(weight, name)[start:stop] for name in per_row if getattr(weight, name) is not None}
    return dataclasses.replace(weight, shape=(stop - start, weight.shape[1]), **sliced)
