"""Multi-objective ranking: non-dominated sorting, crowding distance and
hypervolume, all on objective matrices to be minimised (negate what is to be
maximised before calling).

Constraints follow Deb's constrained domination (NSGA-II, Deb et al. 2002, §V):
a feasible point dominates an infeasible one, and of two infeasible points the
one with the smaller total violation dominates.
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(objectives: np.ndarray, violation: np.ndarray | None = None) -> list[list[int]]:
    """Fronts of row indices, best first (Deb's fast non-dominated sort)."""
    n = len(objectives)
    violation = np.zeros(n) if violation is None else violation
    better = np.zeros((n, n), dtype=bool)  # better[i, j]: i dominates j
    for i in range(n):
        le = np.all(objectives[i] <= objectives, axis=1) & np.any(objectives[i] < objectives, axis=1)
        feasible_pair = (violation[i] == 0) & (violation == 0)
        better[i] = np.where(feasible_pair, le, violation[i] < violation)
    counts = better.sum(axis=0)
    fronts, current = [], [i for i in range(n) if counts[i] == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in np.flatnonzero(better[i]):
                counts[j] -= 1
                if counts[j] == 0:
                    following.append(int(j))
        current = following
    return fronts


def pareto_front(objectives: np.ndarray) -> list[int]:
    """Indices of the non-dominated rows."""
    return non_dominated_sort(objectives)[0] if len(objectives) else []


def crowding_distance(objectives: np.ndarray) -> np.ndarray:
    """Per row of one front: the perimeter of the box its neighbours span in each
    objective, normalised; boundary points get infinity."""
    n, m = objectives.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(objectives[:, k], kind="stable")
        values = objectives[order, k]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def hypervolume(objectives: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by the rows and bounded by `reference` (exact; slices
    along the last objective, recursing down to a 2-D sweep)."""
    points = objectives[np.all(objectives < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    points = points[pareto_front(points)]
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    if points.shape[1] == 2:
        order = np.argsort(points[:, 0])
        volume, best_y = 0.0, reference[1]
        for x, y in points[order]:
            if y < best_y:
                volume += (reference[0] - x) * (best_y - y)
                best_y = y
        return float(volume)
    order = np.argsort(points[:, -1])
    levels = points[order, -1]
    volume = 0.0
    for i in range(len(order)):
        top = levels[i + 1] if i + 1 < len(order) else reference[-1]
        if top > levels[i]:
            volume += (top - levels[i]) * hypervolume(points[order[: i + 1], :-1], reference[:-1])
    return float(volume)
