"""The Pareto front of a set of design points, and its report section.

A design point is a row of named numbers (cycles, energy, area, accuracy, ...),
however it was stored: a DSE store, a CSV, a list built in a notebook. Each
objective says whether less or more is better. A row is on the front when no
other row is at least as good on every objective and better on one. Keeping the
input to plain rows lets any store feed the report through a small loader.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

Row = Mapping[str, float]
SENSES = ("min", "max")


def pareto_front(rows: Sequence[Row], objectives: Mapping[str, str]) -> list[int]:
    """Indices of the rows no other row dominates under `objectives` (column ->
    "min" or "max"), in input order. Exact duplicates are all kept."""
    for column, sense in objectives.items():
        if sense not in SENSES:
            raise ValueError(f"objective {column}: sense must be 'min' or 'max', got {sense!r}")
    sign = {column: 1.0 if sense == "min" else -1.0 for column, sense in objectives.items()}
    costs = [tuple(sign[c] * float(row[c]) for c in objectives) for row in rows]

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    return [i for i, cost in enumerate(costs) if not any(dominates(other, cost) for other in costs)]


def pareto_section(rows: Sequence[Row], objectives: Mapping[str, str]) -> str:
    """HTML: a scatter of the first two objectives with the front marked, and the
    front's rows as a table (every column of the rows)."""
    from bitsmith.report_html.sections import svg_figure

    front = pareto_front(rows, objectives)
    names = list(objectives)
    figure = ""
    if len(names) >= 2:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        x, y = names[0], names[1]
        ax.scatter([r[x] for r in rows], [r[y] for r in rows], s=14, color="0.6", label="design points")
        best = sorted((rows[i] for i in front), key=lambda r: r[x])
        ax.plot([r[x] for r in best], [r[y] for r in best], "o-", color="tab:red", label="Pareto front")
        ax.set_xlabel(f"{x} ({objectives[x]})")
        ax.set_ylabel(f"{y} ({objectives[y]})")
        ax.legend(fontsize=8)
        figure = svg_figure(fig)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(rows[i].get(c)))}</td>" for c in columns) + "</tr>"
                   for i in front)
    goal = ", ".join(f"{html.escape(c)} ({s})" for c, s in objectives.items())
    return (f"<p>{len(front)} of {len(rows)} design points are Pareto-optimal for {goal}.</p>{figure}"
            f"<table class='num'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _cell(value: object) -> str:
    return f"{value:,.6g}" if isinstance(value, float) else "" if value is None else str(value)
