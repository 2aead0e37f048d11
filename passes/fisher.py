"""Downstream sensitivity: the diagonal of the model-output Gauss-Newton (Fisher)
matrix per weight element, estimated with torch autograd through `ir/torch_run.py`.

Why. Calibrate's activation proxy E[x²] says how much a layer's *own* output moves
when its weight is perturbed; on MiniLM that steered bits to the wrong layers
(README, "The calibrated objective"). What matters is how much the *model's*
output moves. For a perturbation Δ of the weights W, with J = ∂f/∂W the Jacobian
of the outputs f(x; W) on the calibration batch,

    L(W + Δ) = ||f(x; W + Δ) − f(x; W)||²  ≈  Δᵀ (JᵀJ) Δ,

since L(W) = 0 and ∇L(W) = 0: the Hessian of L at W is exactly 2·JᵀJ, the
Gauss-Newton matrix, with no label needed (embedding models have none). HAWQ
(Dong et al. 2019, arXiv:1905.03696) ranks layers by the Hessian's trace; we keep
its per-element diagonal instead, so `allocate_bits`' error Σ diag(JᵀJ)·Δ² is the
second-order estimate of the output change, cross terms dropped, as OBS and GPTQ
(Hassibi & Stork 1993; Frantar et al. 2022, arXiv:2210.17323) weigh each weight's
rounding error by its own curvature.

How. JᵀJ is far too large to form; its diagonal is estimated by random projections
(Hutchinson-style, Bekas et al. 2007): draw v over the outputs with E[v vᵀ] = I
(Rademacher ±1), take g = ∂(vᵀf)/∂W = Jᵀv by a backward pass, and average g²:
E[(Jᵀv)²]_p = Σ_o J²_op = diag(JᵀJ)_p, unbiased for any number of samples. The
forward graph is built once and kept; each backward pass takes
`PROJECTIONS_PER_PASS` projections at once. The variance per element is
2((Σ_o J²_op)² − Σ_o J⁴_op), so the relative standard error is at most
sqrt(2 / samples), and exactly 0 when one output drives the element (a single
linear layer fed one input row).

With loss "softmax_kl" the outputs are logits over their last axis and the output
metric is the softmax's Fisher, H = diag(p) − p pᵀ per row (the Hessian of
KL(softmax(f) || softmax(f')) at f' = f): v = onehot(y) − p with y drawn from p
has E[v vᵀ] = H, so the same g² estimates diag(Jᵀ H J), the Fisher information of
the classifier's predictive distribution (the Monte-Carlo Fisher of K-FAC, Martens
& Grosse 2015). Rows get independent draws, so one backward pass serves the whole
batch: cross-row terms vanish in expectation. (The empirical Fisher on the model's
own argmax would square the batch's *summed* gradient, mixing rows, unless every
row had its own backward pass; the sampled one needs no labels and no such loop.)

Both diagonals are sums over the calibration batch, not means; only their ratios
between weights steer the allocation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bitsmith.ir.graph import Graph
from bitsmith.ir.torch_run import run_torch, to_torch
from bitsmith.passes.base import ExampleInputs, PassError
from bitsmith.passes.calibrate import FisherLoss

# Projections per backward pass: autograd vmaps the backward over them
# (`is_grads_batched`), larger matrix products than one projection at a time.
PROJECTIONS_PER_PASS = 8


def fisher_diagonal(graph: Graph, inputs: ExampleInputs, weights: Sequence[str], *, samples: int, seed: int = 0,
                    loss: FisherLoss = "output_change") -> dict[str, np.ndarray]:
    """diag(JᵀJ) (or diag(Jᵀ H J) for "softmax_kl") of `graph`'s outputs on
    `inputs` with respect to each constant named in `weights`, weight-shaped, from
    `samples` random projections drawn with `seed` (module docstring). Outputs
    that do not depend on the weights (integer ones, say) take no part."""
    if samples < 1:
        raise PassError(f"fisher: samples must be at least 1, got {samples}")
    params = {}
    for name in weights:
        const = graph.constant(name)
        if const is None or const.data is None:
            raise PassError(f"fisher: graph {graph.name} has no weight data for %{name}")
        params[name] = to_torch(const.data).requires_grad_(True)
    outputs = [out for out in run_torch(graph, inputs, constants=params) if out.requires_grad]
    if not outputs:
        raise PassError(f"fisher: no output of graph {graph.name} depends on the weights")
    generator = torch.Generator().manual_seed(seed)
    probabilities = [torch.softmax(out.detach().double(), dim=-1) for out in outputs] if loss == "softmax_kl" else []
    squares = {name: torch.zeros(p.shape, dtype=torch.float64) for name, p in params.items()}
    for start in range(0, samples, PROJECTIONS_PER_PASS):
        count = min(PROJECTIONS_PER_PASS, samples - start)
        if loss == "softmax_kl":
            directions = [_softmax_directions(p, count, generator) for p in probabilities]
        else:
            directions = [_rademacher((count, *out.shape), generator) for out in outputs]
        grads = torch.autograd.grad(outputs, list(params.values()),
                                    grad_outputs=[v.to(out.dtype) for out, v in zip(outputs, directions, strict=True)],
                                    retain_graph=start + count < samples, allow_unused=True, is_grads_batched=True)
        for name, grad in zip(params, grads, strict=True):
            if grad is not None:
                squares[name] += grad.double().square().sum(dim=0)
    return {name: (total / samples).numpy() for name, total in squares.items()}


def _rademacher(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Independent ±1 entries: E[v vᵀ] = I."""
    return torch.randint(0, 2, shape, generator=generator, dtype=torch.float64) * 2 - 1


def _softmax_directions(probabilities: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` draws of onehot(y) − p, y ~ p per row of the last axis: E[v vᵀ] = diag(p) − p pᵀ."""
    rows = probabilities.reshape(-1, probabilities.shape[-1])
    drawn = torch.multinomial(rows, count, replacement=True, generator=generator).T  # [count, rows]
    onehot = torch.nn.functional.one_hot(drawn, rows.shape[-1]).to(rows.dtype)
    return (onehot - rows).reshape(count, *probabilities.shape)
