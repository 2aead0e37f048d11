"""Search strategies: which points of a space to evaluate, in what order.

A strategy sees the space only as axes of value indices (genomes) and the sweep
only through `evaluate`, which takes genomes and returns their scores in the same
order (evaluating them in parallel, or reading them from the store). Each is
deterministic for a seed: given the same scores, the same points are asked for
in the same order, so a resumed sweep retraces its steps through the store.

- `grid`: every point in order (the first `budget` where given);
- `random`: `budget` distinct points drawn uniformly;
- `nsga2`: NSGA-II (Deb et al., IEEE TEC 2002): binary tournaments on
  (constrained rank, crowding), uniform crossover, per-gene mutation (a step to a
  neighbouring value, which suits the ordered axes a hardware sweep has, or a
  random one), elitist survival by non-dominated sorting. `budget` counts
  distinct evaluated points; revisiting a point costs nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bitsmith.dse.pareto import crowding_distance, non_dominated_sort
from bitsmith.dse.space import Genome, Space


@dataclass(frozen=True)
class Score:
    """A point as the search sees it: objectives to minimise and total constraint
    violation (0: feasible; a failed point is infinitely infeasible)."""

    objectives: tuple[float, ...]
    violation: float


Evaluate = Callable[[Sequence[Genome]], list[Score]]
STRATEGIES = ("grid", "random", "nsga2")


def planned_points(space: Space, strategy: str, budget: int | None) -> int:
    """How many distinct points a strategy will evaluate (for progress)."""
    return min(space.size, budget) if budget is not None else space.size


def run_strategy(space: Space, evaluate: Evaluate, strategy: str, *, budget: int | None, seed: int,
                 population: int = 32, chunk: int = 256) -> None:
    if strategy == "grid":
        genomes = itertools.islice(space.grid(), budget)
        while batch := list(itertools.islice(genomes, chunk)):
            evaluate(batch)
    elif strategy == "random":
        evaluate(sample(space, planned_points(space, strategy, budget), np.random.default_rng(seed)))
    else:
        nsga2(space, evaluate, budget=planned_points(space, strategy, budget), seed=seed, population=population)


def sample(space: Space, count: int, rng: np.random.Generator) -> list[Genome]:
    """`count` distinct genomes drawn uniformly (ranks into the grid, no replacement)."""
    sizes = [len(axis.values) for axis in space.axes]
    return [_unrank(int(rank), sizes) for rank in rng.choice(space.size, size=count, replace=False)]


def _unrank(rank: int, sizes: list[int]) -> Genome:
    genes = []
    for size in reversed(sizes):
        rank, gene = divmod(rank, size)
        genes.append(gene)
    return tuple(reversed(genes))


def nsga2(space: Space, evaluate: Evaluate, *, budget: int, seed: int, population: int) -> None:
    """Evolve until `budget` distinct points are evaluated (module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(axis.values) for axis in space.axes])
    seen: dict[Genome, Score] = {}

    def score(genomes: list[Genome]) -> None:
        new = [g for g in dict.fromkeys(genomes) if g not in seen][: budget - len(seen)]
        seen.update(zip(new, evaluate(new), strict=True))

    parents = sample(space, min(population, budget), rng)
    score(parents)
    stale = 0
    while len(seen) < budget and stale < 20:
        ranked = _ranks(parents, seen)
        children: list[Genome] = []
        for _ in range(20 * population):
            if len(children) >= population:
                break
            a, b = _tournament(ranked, rng), _tournament(ranked, rng)
            child = _mutate(_crossover(a, b, rng), sizes, rng)
            if child not in seen and child not in children:
                children.append(child)
        before = len(seen)
        score(children)
        stale = stale + 1 if len(seen) == before else 0
        pool = list(dict.fromkeys(parents + [c for c in children if c in seen]))
        parents = _survivors(pool, seen, population)


def _ranks(genomes: list[Genome], seen: dict[Genome, Score]) -> list[tuple[Genome, int, float]]:
    """(genome, front index, crowding distance) for each genome, front by front."""
    objectives, violation = _matrix(genomes, seen)
    ranked = []
    for rank, front in enumerate(non_dominated_sort(objectives, violation)):
        crowd = crowding_distance(objectives[front])
        ranked += [(genomes[i], rank, float(c)) for i, c in zip(front, crowd, strict=True)]
    return ranked


def _survivors(pool: list[Genome], seen: dict[Genome, Score], population: int) -> list[Genome]:
    """The `population` best of `pool` by front, then crowding (NSGA-II elitism)."""
    objectives, violation = _matrix(pool, seen)
    kept: list[Genome] = []
    for front in non_dominated_sort(objectives, violation):
        if len(kept) + len(front) <= population:
            kept += [pool[i] for i in front]
            continue
        crowd = crowding_distance(objectives[front])
        order = np.argsort(-crowd, kind="stable")
        kept += [pool[front[i]] for i in order[: population - len(kept)]]
        break
    return kept


def _matrix(genomes: list[Genome], seen: dict[Genome, Score]) -> tuple[np.ndarray, np.ndarray]:
    scores = [seen[g] for g in genomes]
    objectives = np.array([s.objectives for s in scores], dtype=float)
    objectives[~np.isfinite(objectives)] = np.finfo(float).max  # a failed point's missing figures
    violation = np.array([min(s.violation, np.finfo(float).max) for s in scores])
    return objectives, violation


def _tournament(ranked: list[tuple[Genome, int, float]], rng: np.random.Generator) -> Genome:
    i, j = rng.integers(len(ranked), size=2)
    (a, rank_a, crowd_a), (b, rank_b, crowd_b) = ranked[i], ranked[j]
    if rank_a != rank_b:
        return a if rank_a < rank_b else b
    return a if crowd_a >= crowd_b else b


def _crossover(a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
    take = rng.random(len(a)) < 0.5
    return tuple(int(x) if t else int(y) for x, y, t in zip(a, b, take, strict=True))


def _mutate(genome: Genome, sizes: np.ndarray, rng: np.random.Generator) -> Genome:
    genes = list(genome)
    rate = 1.0 / len(genes)
    for k, size in enumerate(sizes):
        if size < 2 or rng.random() >= rate:
            continue
        if rng.random() < 0.5:
            step = 1 if rng.random() < 0.5 else -1
            genes[k] = int(min(max(genes[k] + step, 0), size - 1))
        else:
            genes[k] = int(rng.integers(size))
    return tuple(genes)
