"""Choosing one option per layer under a budget: the bit-allocation problem.

Every layer l has options c (formats at different bit widths) with an error
E[l, c] (sensitivity-weighted quantisation error) and a cost C[l, c] (e.g. stored
bits). Pick exactly one option per layer to minimise Σ E[l, c] subject to
Σ C[l, c] ≤ budget: a multiple-choice knapsack, NP-hard in general but small here
(tens to hundreds of layers, a handful of options each).

- `allocate_ilp`: exact, as a mixed-integer linear program for
  `scipy.optimize.milp` (HiGHS): binary x[l, c], Σ_c x[l, c] = 1 per layer,
  Σ C·x ≤ budget, minimise Σ E·x (HAWQ-V3's formulation).
- `allocate_greedy`: start every layer at its cheapest option and repeatedly take
  the upgrade with the largest error reduction per unit of extra cost that still
  fits (BAQ-style marginal analysis); fast, not always optimal.
- `allocate_evolutionary`: a seeded genetic search (tournament selection,
  uniform crossover, per-layer mutation, infeasible children repaired by
  downgrading the layer with the smallest error increase per cost saved), for
  spaces where the error is not additive or the ILP is too big (EvoPress-style).

All three return an `Allocation`; an infeasible budget is an `AllocationError`
naming the smallest feasible budget (every layer at its cheapest option).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from bitsmith.ir.errors import BitsmithError


class AllocationError(BitsmithError):
    """A budget no choice meets, or malformed error/cost tables."""


@dataclass(frozen=True)
class Allocation:
    """The chosen option index per layer, its total error and total cost."""

    choice: np.ndarray  # int, one per layer
    error: float
    cost: float


def _check(errors: np.ndarray, costs: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    errors, costs = np.asarray(errors, dtype=np.float64), np.asarray(costs, dtype=np.float64)
    if errors.ndim != 2 or errors.shape != costs.shape or errors.size == 0:
        raise AllocationError(f"errors and costs must be equal non-empty [layers, options] tables, "
                              f"got {errors.shape} and {costs.shape}")
    if not (np.isfinite(errors).all() and np.isfinite(costs).all()):
        raise AllocationError("errors and costs must be finite")
    cheapest = float(costs.min(axis=1).sum())
    if budget < cheapest * (1 - 1e-12):
        raise AllocationError(f"budget {budget:g} is infeasible: the smallest feasible budget is {cheapest:g} "
                              "(every layer at its cheapest option)")
    return errors, costs


def _result(choice: np.ndarray, errors: np.ndarray, costs: np.ndarray) -> Allocation:
    rows = np.arange(len(choice))
    return Allocation(choice.astype(np.int64), float(errors[rows, choice].sum()), float(costs[rows, choice].sum()))


def allocate_ilp(errors: np.ndarray, costs: np.ndarray, budget: float) -> Allocation:
    """The exact optimum (see the module docstring)."""
    errors, costs = _check(errors, costs, budget)
    layers, options = errors.shape
    one_per_layer = np.kron(np.eye(layers), np.ones(options))
    constraints = [LinearConstraint(one_per_layer, 1, 1),
                   LinearConstraint(costs.reshape(1, -1), -np.inf, budget * (1 + 1e-12))]
    solved = milp(errors.ravel(), constraints=constraints, integrality=np.ones(errors.size),
                  bounds=Bounds(0, 1))
    if not solved.success:
        raise AllocationError(f"the ILP solver failed: {solved.message}")
    choice = np.rint(solved.x).reshape(layers, options).argmax(axis=1)
    return _result(choice, errors, costs)


def allocate_greedy(errors: np.ndarray, costs: np.ndarray, budget: float) -> Allocation:
    """Marginal-gain upgrades from the cheapest choice (see the module docstring)."""
    errors, costs = _check(errors, costs, budget)
    rows = np.arange(errors.shape[0])
    choice = costs.argmin(axis=1)
    spent = float(costs[rows, choice].sum())
    while True:
        gain = errors[rows, choice][:, None] - errors
        extra = costs - costs[rows, choice][:, None]
        fits = (extra > 0) & (gain > 0) & (spent + extra <= budget * (1 + 1e-12))
        if not fits.any():
            return _result(choice, errors, costs)
        ratio = np.where(fits, gain / np.where(extra > 0, extra, 1), -np.inf)
        layer, option = np.unravel_index(np.argmax(ratio), ratio.shape)
        spent += float(extra[layer, option])
        choice[layer] = option


def allocate_evolutionary(errors: np.ndarray, costs: np.ndarray, budget: float, *, seed: int = 0,
                          population: int = 48, generations: int = 120) -> Allocation:
    """A seeded genetic search (see the module docstring); deterministic per seed."""
    errors, costs = _check(errors, costs, budget)
    rng = np.random.default_rng(seed)
    layers, options = errors.shape
    rows = np.arange(layers)

    def repair(choice: np.ndarray) -> np.ndarray:
        choice = choice.copy()
        while costs[rows, choice].sum() > budget * (1 + 1e-12):
            cheaper = costs < costs[rows, choice][:, None]
            saved = np.where(cheaper, costs[rows, choice][:, None] - costs, 0)
            worse = errors - errors[rows, choice][:, None]
            score = np.where(cheaper, worse / np.where(saved > 0, saved, 1), np.inf)
            layer, option = np.unravel_index(np.argmin(score), score.shape)
            choice[layer] = option
        return choice

    def fitness(choice: np.ndarray) -> float:
        return float(errors[rows, choice].sum())

    pool = [repair(rng.integers(0, options, layers)) for _ in range(population - 1)]
    pool.append(allocate_greedy(errors, costs, budget).choice)
    for _ in range(generations):
        scores = np.array([fitness(c) for c in pool])
        elite = pool[int(np.argmin(scores))]
        children = [elite]
        while len(children) < population:
            a, b = (pool[min(rng.integers(0, population, 2), key=lambda i: scores[i])] for _ in range(2))
            child = np.where(rng.random(layers) < 0.5, a, b)
            mutate = rng.random(layers) < 1.0 / layers
            child = np.where(mutate, rng.integers(0, options, layers), child)
            children.append(repair(child))
        pool = children
    best = min(pool, key=fitness)
    return _result(best, errors, costs)
