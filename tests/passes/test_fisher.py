"""The Fisher diagonal estimator (`passes/fisher.py`) against closed forms and exact
Jacobians.

References, independent of the estimator:
- one linear layer y = x Wᵀ: diag(JᵀJ)[n, k] = Σ_rows x_k², by hand;
- a two-layer MLP: diag(JᵀJ) (and diag(JᵀHJ) for the softmax metric) from the full
  Jacobian, `torch.func.jacrev`.
Tolerance: the estimate averages `samples` draws of g², whose variance per element
is 2((Σ_o J²)² − Σ_o J⁴) for Rademacher projections (module docstring), so each
element must lie within 6 standard errors of the exact value; draws are seeded, so
the test is deterministic and the bound is a check on the formula, not luck.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from bitsmith.ir import Graph, GraphBuilder, Op
from bitsmith.ir.dtypes import F32
from bitsmith.ir.torch_run import run_torch
from bitsmith.ir.types import TensorType
from bitsmith.passes.base import PassError
from bitsmith.passes.fisher import fisher_diagonal


def _linear(rows: int, k: int, n: int) -> tuple[Graph, np.ndarray]:
    rng = np.random.default_rng(0)
    b = GraphBuilder("linear")
    x = b.input("x", TensorType((rows, k), F32))
    graph = b.build([b.op(Op.LINEAR, [x, b.constant("w", rng.standard_normal((n, k)).astype(np.float32))])])
    return graph, rng.standard_normal((rows, k)).astype(np.float32)


def _mlp(rows: int = 3, k: int = 5, hidden: int = 4, out: int = 3) -> tuple[Graph, np.ndarray]:
    """x -> fc1 -> tanh -> fc2 (with bias): small enough for an exact Jacobian."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("mlp")
    x = b.input("x", TensorType((rows, k), F32))
    h = b.op(Op.LINEAR, [x, b.constant("fc1.weight", rng.standard_normal((hidden, k)).astype(np.float32))], name="fc1")
    h = b.op(Op.TANH, [h], name="act")
    y = b.op(Op.LINEAR, [h, b.constant("fc2.weight", rng.standard_normal((out, hidden)).astype(np.float32)),
                         b.constant("fc2.bias", rng.standard_normal(out).astype(np.float32), origin="buffer")],
             name="fc2")
    return b.build([y]), rng.standard_normal((rows, k)).astype(np.float32)


def _jacobians(graph: Graph, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """∂(output)/∂W per weight, [*output shape, *W shape], in f64 from torch.func.jacrev."""
    weights = tuple(torch.tensor(graph.constant(n).data, dtype=torch.float64) for n in names)

    def output(*ws: torch.Tensor) -> torch.Tensor:
        constants = {n: w.float() for n, w in zip(names, ws, strict=True)}
        return run_torch(graph, [x], constants=constants)[0].double()

    jac = torch.func.jacrev(output, argnums=tuple(range(len(names))))(*weights)
    return {n: j.numpy() for n, j in zip(names, jac, strict=True)}


def _within_standard_errors(estimate: np.ndarray, jac: np.ndarray, samples: int, out_dims: int) -> None:
    """Each element within 6 standard errors of diag(JᵀJ), the Rademacher variance."""
    squared = jac.reshape(-1, *jac.shape[out_dims:]) ** 2  # [outputs, *W]
    exact = squared.sum(axis=0)
    variance = 2 * (exact**2 - (squared**2).sum(axis=0))
    bound = 6 * np.sqrt(variance / samples) + 1e-6 * exact.max()
    worst = np.max(np.abs(estimate - exact) / bound)
    assert worst <= 1.0, f"an element is {6 * worst:.1f} standard errors from the exact diagonal"


def test_one_input_row_makes_the_linear_diagonal_exact() -> None:
    """y_n = Σ_k W_nk x_k: g_nk = v_n x_k, so g² = x_k² for every draw."""
    graph, x = _linear(1, 6, 4)
    diag = fisher_diagonal(graph, [x], ["w"], samples=3)["w"]
    np.testing.assert_allclose(diag, np.tile(x.astype(np.float64) ** 2, (4, 1)), rtol=1e-6)


def test_linear_diagonal_approaches_the_sum_of_squared_inputs() -> None:
    rows, k, n, samples = 8, 6, 4, 3000
    graph, x = _linear(rows, k, n)
    diag = fisher_diagonal(graph, [x], ["w"], samples=samples)["w"]
    exact = np.tile((x.astype(np.float64) ** 2).sum(axis=0), (n, 1))
    # J[(i, j), (n, k)] = δ_jn x_ik: the closed form is the full Jacobian's diagonal
    jac = np.einsum("jn,ik->ijnk", np.eye(n), x.astype(np.float64))
    np.testing.assert_allclose((jac**2).sum(axis=(0, 1)), exact)
    _within_standard_errors(diag, jac, samples, out_dims=2)
    assert np.abs(diag / exact - 1).mean() < 2 * np.sqrt(2 / samples)  # relative error at most sqrt(2/S) per element


def test_mlp_diagonal_matches_the_exact_jacobian() -> None:
    graph, x = _mlp()
    names = ["fc1.weight", "fc2.weight"]
    samples = 3000
    estimate = fisher_diagonal(graph, [x], names, samples=samples)
    for name, jac in _jacobians(graph, x, names).items():
        assert estimate[name].shape == graph.constant(name).type.shape
        _within_standard_errors(estimate[name], jac, samples, out_dims=2)


def test_softmax_fisher_matches_the_exact_jacobian() -> None:
    """diag(Σ_rows J_rᵀ (diag p_r − p_r p_rᵀ) J_r) for the classifier's logits."""
    graph, x = _mlp()
    names = ["fc1.weight", "fc2.weight"]
    samples = 4000
    estimate = fisher_diagonal(graph, [x], names, samples=samples, loss="softmax_kl")
    logits = run_torch(graph, [x])[0].double()
    p = torch.softmax(logits, -1).numpy()
    metric = np.einsum("rc,cd->rcd", p, np.eye(p.shape[1])) - np.einsum("rc,rd->rcd", p, p)
    for name, jac in _jacobians(graph, x, names).items():
        exact = np.einsum("rc...,rcd,rd...->...", jac, metric, jac)
        # no simple variance bound here: |onehot − p| ≤ 1, so hold the whole array to 5 %
        assert np.linalg.norm(estimate[name] - exact) <= 0.05 * np.linalg.norm(exact)


def test_same_seed_same_diagonal_and_errors_name_the_problem() -> None:
    graph, x = _mlp()
    first = fisher_diagonal(graph, [x], ["fc1.weight"], samples=4, seed=3)["fc1.weight"]
    np.testing.assert_array_equal(first, fisher_diagonal(graph, [x], ["fc1.weight"], samples=4, seed=3)["fc1.weight"])
    assert not np.array_equal(first, fisher_diagonal(graph, [x], ["fc1.weight"], samples=4, seed=4)["fc1.weight"])
    with pytest.raises(PassError, match="samples must be at least 1"):
        fisher_diagonal(graph, [x], ["fc1.weight"], samples=0)
    with pytest.raises(PassError, match="no weight data for %fc3.weight"):
        fisher_diagonal(graph, [x], ["fc3.weight"], samples=1)


def test_calibrate_and_allocate_bits_do_not_import_torch() -> None:
    """The Fisher path imports torch on first use only, so these passes stay cheap to import."""
    code = ("import sys, bitsmith.passes.calibrate, bitsmith.passes.allocate_bits; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
