"""What a sweep found: the feasible points, their Pareto front over the sweep's
objectives, as a rich table and as plots (a 2-D scatter of the first two
objectives with the front highlighted; parallel coordinates when there are more).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.dse.evaluate import Outcome
from bitsmith.dse.execute import score
from bitsmith.dse.pareto import non_dominated_sort
from bitsmith.dse.space import label
from bitsmith.dse.spec import OBJECTIVES, SweepSpec


@dataclass(frozen=True)
class Front:
    """The stored points of a sweep split into the front, the other feasible
    points, the infeasible ones (constraints broken) and the failed ones."""

    front: list[Outcome]
    dominated: list[Outcome]
    infeasible: list[Outcome]
    failed: list[Outcome]


def pareto(spec: SweepSpec, outcomes: list[Outcome]) -> Front:
    ok = [o for o in outcomes if o.ok]
    scores = [score(spec, o) for o in ok]
    feasible = [o for o, s in zip(ok, scores, strict=True) if s.violation == 0]
    infeasible = [o for o, s in zip(ok, scores, strict=True) if s.violation > 0]
    if not feasible:
        return Front([], [], infeasible, [o for o in outcomes if not o.ok])
    matrix = np.array([score(spec, o).objectives for o in feasible])
    first = set(non_dominated_sort(matrix)[0])
    front = sorted((feasible[i] for i in first), key=lambda o: o.figures[OBJECTIVES[spec.objectives[0]][0]])
    dominated = [o for i, o in enumerate(feasible) if i not in first]
    return Front(front, dominated, infeasible, [o for o in outcomes if not o.ok])


def print_front(spec: SweepSpec, found: Front, console: Console, max_rows: int | None = 40) -> None:
    axes = list(dict.fromkeys(key for o in found.front for key in o.config))
    varied = [a for a in axes if len({label(o.config[a]) for o in found.front}) > 1] or axes
    table = Table(title=f"{spec.name}: Pareto front over {', '.join(spec.objectives)} "
                        f"({len(found.front)} of {len(found.front) + len(found.dominated)} feasible points)")
    for axis in varied:
        table.add_column(axis.removeprefix("pe_array.").removeprefix("buffers."), overflow="fold")
    for name in spec.objectives:
        _, unit, larger = OBJECTIVES[name]
        table.add_column(f"{name} {unit if name != 'accuracy' else spec.accuracy} {'↑' if larger else '↓'}",
                         justify="right")
    table.add_column("bits/w", justify="right")
    for outcome in found.front[:max_rows]:
        table.add_row(*(label(outcome.config[a]) for a in varied),
                      *(f"{outcome.figures[OBJECTIVES[n][0]]:.4g}" for n in spec.objectives),
                      f"{outcome.figures['avg_bits']:.3g}")
    if max_rows is not None and len(found.front) > max_rows:
        table.caption = f"{len(found.front) - max_rows} more front points"
    console.print(table)
    console.print(f"{len(found.infeasible)} points break a constraint; {len(found.failed)} failed")
    for outcome in found.failed[:3]:
        console.print(f"  failed: {outcome.error}", highlight=False)


def plot_front(spec: SweepSpec, found: Front, path: str | os.PathLike[str]) -> None:
    """A 2-D scatter of the first two objectives (all feasible points grey, the
    front red and joined), or, with more objectives, parallel coordinates (each
    objective scaled to [0, 1], front lines red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [OBJECTIVES[n][0] for n in spec.objectives]
    front, rest = (np.array([[o.figures[c] for c in columns] for o in points]).reshape(-1, len(columns))
                   for points in (found.front, found.dominated))
    if len(columns) == 2:
        figure, axes = plt.subplots(figsize=(6, 4.5))
        axes.scatter(rest[:, 0], rest[:, 1], s=10, c="0.7", label="dominated")
        order = np.argsort(front[:, 0])
        axes.plot(front[order, 0], front[order, 1], "o-", c="tab:red", ms=5, label="Pareto front")
        axes.set_xlabel(f"{spec.objectives[0]} ({OBJECTIVES[spec.objectives[0]][1]})")
        axes.set_ylabel(f"{spec.objectives[1]} ({OBJECTIVES[spec.objectives[1]][1]})")
        for axis, name in zip((axes.xaxis, axes.yaxis), spec.objectives, strict=True):
            if name in ("latency", "energy", "edp"):
                (axes.set_xscale if axis is axes.xaxis else axes.set_yscale)("log")
        axes.legend()
    else:
        everything = np.vstack([rest, front])
        low, high = everything.min(axis=0), everything.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        figure, axes = plt.subplots(figsize=(1.8 * len(columns) + 2, 4.5))
        x = np.arange(len(columns))
        for row in (rest - low) / span:  # jagged: smoothing thousands of grey lines triples the PNG's size
            axes.plot(x, row, c="0.8", lw=0.5, antialiased=False)
        for row in (front - low) / span:
            axes.plot(x, row, c="tab:red", lw=1.2)
        axes.set_xticks(x, [f"{n}\n{low[i]:.3g}..{high[i]:.3g} {OBJECTIVES[n][1]}"
                            for i, n in enumerate(spec.objectives)])
        axes.set_ylabel("scaled to the sweep's range")
    axes.set_title(f"{spec.name}: {len(found.front)} Pareto points (red) of "
                   f"{len(found.front) + len(found.dominated)} feasible")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
