"""Calibrate: run example inputs through the reference interpreter and record what
later passes need to know about the activations, without changing the graph.

Two statistics, stored as a `Calibration` in the pipeline's analysis store, and a
third on request (`calibrate.sensitivity: fisher`):

- per GEMM weight, the second moment of its input activations along the reduction
  axis, E[x_k²]. A layer y = W x has output error (Q(W) − W) x, whose expected
  square is Δᵀ E[x xᵀ] Δ per output row; keeping the diagonal of E[x xᵀ] (the
  layer-output Hessian 2·XᵀX/n up to the factor 2, as HAWQ and GPTQ use it) gives
  Σ_k Δ_k² E[x_k²]. Exact when the input channels are uncorrelated, and cheap: one
  number per reduction index, so `allocate_bits` can weigh each weight's
  quantisation error by how strongly its inputs drive it. A weight whose input
  channel is always near zero barely matters; one fed by an outlier channel does.
- per float value (graph inputs and node outputs), its (min, max) over the example
  inputs, the range activation quantisation will need.
- per GEMM weight, weight-shaped, the diagonal of the model-output Gauss-Newton
  (Fisher) matrix, diag(JᵀJ) with J = ∂(model outputs)/∂W, estimated by random
  projections through torch autograd (`passes/fisher.py`): how much the *model's*
  output moves per unit of squared error in each element, where E[x²] sees only
  the layer's own output. `allocate_bits` uses it in place of E[x²] when present.

The reduction axis follows `quantize_weights.WEIGHT_OPERANDS`: K for `linear`
(`x[..., K] @ W[N, K]ᵀ`) and for a constant right `matmul` operand (`[..., K, N]`),
C·kh·kw for `conv2d` (the im2col columns, padding included, one statistic per group
of channels). Each moment is shaped to broadcast against its weight. A weight read
by several GEMMs gets the sum of their moments: its error reaches every reader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from bitsmith.ir.errors import InterpretError
from bitsmith.ir.graph import Graph, Node
from bitsmith.ir.interpret import bind_inputs, run_node
from bitsmith.ir.ops import Op
from bitsmith.passes.base import ExampleInputs, PassContext, PassError, PassOptions, graph_pass
from bitsmith.passes.quantize_weights import WEIGHT_OPERANDS, weight_operands


@dataclass(frozen=True)
class Calibration:
    """Activation statistics of one graph on its example inputs, and the weights'
    Fisher diagonals when asked (module docstring)."""

    input_second_moment: dict[str, np.ndarray]  # weight name -> E[x²] on its reduction axis, broadcastable to it
    ranges: dict[str, tuple[float, float]]  # float value name -> (min, max)
    fisher_diagonal: dict[str, np.ndarray] | None = None  # weight name -> diag(JᵀJ), weight-shaped; None: not asked

    def sensitivity(self, weight: str, reader: str) -> np.ndarray:
        """What each squared error of `weight` is multiplied by, broadcastable to it:
        its Fisher diagonal when calibrated for one, else E[x²] of its inputs. A
        weight with no statistics is a PassError naming `reader` (the asking pass)."""
        found = self.fisher_diagonal if self.fisher_diagonal is not None else self.input_second_moment
        statistic = found.get(weight)
        if statistic is None:
            raise PassError(f"pass {reader}: the calibration has no statistics for weight %{weight}; "
                            "was it calibrated on another graph?")
        return statistic


Sensitivity = Literal["activation", "fisher"]
FisherLoss = Literal["output_change", "softmax_kl"]  # ||Δf||², or the KL of softmax(f) (passes/fisher.py)


def calibrate(graph: Graph, inputs: ExampleInputs, *, sensitivity: Sensitivity = "activation", samples: int = 8,
              seed: int = 0, loss: FisherLoss = "output_change") -> Calibration:
    """Run `graph` on `inputs` node by node and collect its `Calibration`; with
    sensitivity "fisher", also each weight's Fisher diagonal from `samples` random
    projections drawn with `seed` for `loss` (`passes/fisher.py`)."""
    env = bind_inputs(graph, inputs)
    ranges = {name: _range(array) for name, array in env.items() if _is_float(array)}
    for const in graph.constants:
        if const.data is None:
            raise PassError(f"pass calibrate: graph {graph.name} is shape-only: constant %{const.name} has no data")
        env[const.name] = const.data
    weights = {const.name for const, _, _ in weight_operands(graph)}
    moments: dict[str, np.ndarray] = {}
    uses = Counter(name for node in graph.nodes for name in node.inputs)
    for node in graph.nodes:
        args = [env[name] for name in node.inputs]
        out = run_node(node, args)
        weight = _weight_read(node, weights)
        if weight is not None:
            moment = _input_moment(node, args[0], args[1].shape)
            moments[weight] = moments[weight] + moment if weight in moments else moment
        if _is_float(out):
            ranges[node.name] = _range(out)
        env[node.name] = out
        uses.subtract(node.inputs)
        for name in set(node.inputs):
            if uses[name] == 0 and name not in graph.outputs:
                del env[name]
    if sensitivity == "activation":
        return Calibration(moments, ranges)
    from bitsmith.passes.fisher import fisher_diagonal  # imports torch: only when asked

    return Calibration(moments, ranges, fisher_diagonal(graph, inputs, sorted(weights), samples=samples, seed=seed,
                                                        loss=loss))


def _weight_read(node: Node, weights: set[str]) -> str | None:
    """The quantisable weight `node` reads as its GEMM weight operand, if any."""
    operand = WEIGHT_OPERANDS.get(node.op)
    if operand is None or len(node.inputs) <= operand[0]:
        return None
    name = node.inputs[operand[0]]
    return name if name in weights else None


def _input_moment(node: Node, x: np.ndarray, weight_shape: tuple[int, ...]) -> np.ndarray:
    """E[x_k²] over every row of the GEMM's reduction operand, shaped to broadcast
    against the weight: [K] for linear, [K, 1] for matmul, [O, C/g, kh, kw] for conv."""
    square = np.square(x.astype(np.float64))
    if node.op is Op.CONV2D:
        return _conv_moment(square, node.attrs, weight_shape)
    per_k = square.reshape(-1, square.shape[-1]).mean(axis=0)
    return per_k if node.op is Op.LINEAR else per_k[:, None]


def _conv_moment(square: np.ndarray, attrs: Mapping[str, Any], weight_shape: tuple[int, ...]) -> np.ndarray:
    """Mean of the squared im2col columns, per (channel, kh, kw), repeated to each
    output channel of the channel's group."""
    (sh, sw), (ph, pw), (dh, dw), groups = attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"]
    o, cg, kh, kw = weight_shape
    padded = np.pad(square, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, spans, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    per_channel = windows.mean(axis=(0, 2, 3))  # [C, kh, kw]
    return np.repeat(per_channel.reshape(groups, cg, kh, kw), o // groups, axis=0)


def _is_float(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.floating) or array.dtype.kind == "V"


def _range(array: np.ndarray) -> tuple[float, float]:
    values = array.astype(np.float32)
    return float(values.min()), float(values.max())


class CalibrateOptions(PassOptions):
    """`sensitivity`: what `allocate_bits` weighs each weight's error by, "activation"
    (E[x²] of the layer's inputs) or "fisher" (the model-output Fisher diagonal
    from `samples` random projections drawn with `seed`; `loss` "output_change"
    for ||Δf||², "softmax_kl" for classifier logits)."""

    sensitivity: Sensitivity = "activation"
    samples: int = Field(32, ge=1)
    seed: int = 0
    loss: FisherLoss = "output_change"


@graph_pass("calibrate", options=CalibrateOptions)
def calibrate_pass(graph: Graph, ctx: PassContext) -> Graph:
    """Record activation statistics (E[x²] per GEMM weight, value ranges; Fisher diagonals if asked)."""
    if ctx.example_inputs is None:
        raise PassError("pass calibrate: needs example inputs (Pipeline.run(..., inputs=...) or "
                        "bitsmith.compile(..., example_inputs=...))")
    opts = ctx.options(CalibrateOptions)
    try:
        ctx.analyses.put(calibrate(graph, ctx.example_inputs, sensitivity=opts.sensitivity, samples=opts.samples,
                                   seed=opts.seed, loss=opts.loss))
    except InterpretError as err:
        raise PassError(f"pass calibrate: {err}") from None
    return graph
