"""Non-dominated sorting and hypervolume against brute-force definitions."""

from __future__ import annotations

import itertools

import numpy as np

from bitsmith.dse.pareto import dominates, hypervolume, non_dominated_sort


def test_first_front_is_exactly_the_undominated_points() -> None:
    points = np.random.default_rng(1).random((60, 3))
    fronts = non_dominated_sort(points)
    undominated = {i for i in range(60) if not any(dominates(points[j], points[i]) for j in range(60))}
    assert set(fronts[0]) == undominated
    assert sorted(itertools.chain(*fronts)) == list(range(60))
    for earlier, later in itertools.pairwise(fronts):  # nothing in a later front dominates an earlier one
        assert not any(dominates(points[j], points[i]) for i in earlier for j in later)


def test_feasible_points_dominate_infeasible_ones() -> None:
    points = np.array([[1.0, 1.0], [5.0, 5.0], [0.0, 0.0]])
    violation = np.array([0.0, 0.0, 2.0])
    assert non_dominated_sort(points, violation) == [[0], [1], [2]]


def test_hypervolume_matches_a_grid_count() -> None:
    rng = np.random.default_rng(2)
    for m in (2, 3):
        points = rng.random((12, m))
        reference = np.ones(m)
        cells = np.stack(np.meshgrid(*[np.linspace(0.0125, 0.9875, 40)] * m, indexing="ij"), -1).reshape(-1, m)
        covered = np.any(np.all(points[None, :, :] <= cells[:, None, :], axis=2), axis=1).mean()
        assert abs(hypervolume(points, reference) - covered) < 0.02


def test_hypervolume_of_one_point_is_its_box() -> None:
    assert hypervolume(np.array([[0.5, 0.25, 0.5]]), np.ones(3)) == 0.5 * 0.75 * 0.5
