"""Strategies are deterministic for a seed and respect their budget; NSGA-II
finds most of a synthetic front while evaluating a fraction of the space."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bitsmith.dse import Space, load_sweep
from bitsmith.dse.pareto import hypervolume
from bitsmith.dse.space import Genome
from bitsmith.dse.strategies import Score, run_strategy


def _synthetic(genome: Genome) -> Score:
    """A two-objective trade-off over the genes (bigger genes: faster, costlier)."""
    g = np.array(genome, dtype=float)
    return Score((float(10 / (1 + g.sum())), float((g ** 1.5).sum() + g[0] * g[-1])), 0.0)


def _run(space: Space, strategy: str, budget: int | None, seed: int) -> list[Genome]:
    asked: list[Genome] = []

    def evaluate(genomes: Sequence[Genome]) -> list[Score]:
        asked.extend(genomes)
        return [_synthetic(g) for g in genomes]

    run_strategy(space, evaluate, strategy, budget=budget, seed=seed, population=16)
    return asked


def test_grid_random_and_nsga2_are_deterministic(small_sweep: Path) -> None:
    space = Space(load_sweep(small_sweep))
    assert _run(space, "grid", None, 0) == list(space.grid())
    for strategy in ("random", "nsga2"):
        first = _run(space, strategy, 60, seed=3)
        assert first == _run(space, strategy, 60, seed=3)
        assert first != _run(space, strategy, 60, seed=4)
        assert len(first) == len(set(first)) == 60  # distinct points, budget respected


def test_nsga2_covers_most_of_the_front_with_a_fifth_of_the_points(small_sweep: Path) -> None:
    space = Space(load_sweep(small_sweep))
    everything = list(space.grid())
    objectives = np.array([_synthetic(g).objectives for g in everything])
    low, high = objectives.min(axis=0), objectives.max(axis=0)
    reference = np.full(2, 1.1)
    scaled = (objectives - low) / (high - low)
    exhaustive = hypervolume(scaled, reference)
    asked = _run(space, "nsga2", len(everything) // 5, seed=0)
    found = hypervolume(np.array([(_synthetic(g).objectives - low) / (high - low) for g in asked]), reference)
    assert found >= 0.9 * exhaustive
