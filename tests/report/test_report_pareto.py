"""pareto_front: the non-dominated rows, checked on fronts drawn by hand."""

from __future__ import annotations

import pytest

from bitsmith.report_html.pareto import pareto_front


def test_minimise_two_objectives() -> None:
    rows = [{"x": 2, "y": 3}, {"x": 1, "y": 3}, {"x": 2, "y": 2}, {"x": 3, "y": 1}, {"x": 3, "y": 3}]
    assert pareto_front(rows, {"x": "min", "y": "min"}) == [1, 2, 3]


def test_maximised_accuracy_against_minimised_energy() -> None:
    rows = [{"energy": 1, "acc": 0.90}, {"energy": 2, "acc": 0.95}, {"energy": 3, "acc": 0.94},
            {"energy": 4, "acc": 0.99}]
    assert pareto_front(rows, {"energy": "min", "acc": "max"}) == [0, 1, 3]


def test_duplicates_are_all_kept_and_one_objective_keeps_the_best() -> None:
    rows = [{"x": 1}, {"x": 1}, {"x": 2}]
    assert pareto_front(rows, {"x": "min"}) == [0, 1]


def test_unknown_sense_is_an_error() -> None:
    with pytest.raises(ValueError, match="sense must be 'min' or 'max'"):
        pareto_front([{"x": 1}], {"x": "least"})
