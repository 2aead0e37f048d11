"""Fidelity figures as rich tables, the reasons for the gaps, and grouped-bar plots.

One table per figure kind: each row is one published number beside its value
under every mode (accounting.py), the gaps of the two main modes marked when over
10 %, then one line per cycle-model gap over 10 % with its measured causes
(`bitmod_study.explain`) and the note on any paper-mode gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bitsmith.fidelity.accounting import CYCLE, LADDER, PAPER, REVISION
from bitsmith.fidelity.bitmod_study import TOLERANCE, Figure, explain

TITLES = {
    "speedup": "Speedup over FP16 (cycles of FP16 / cycles of the design)",
    "energy": "Energy efficiency over FP16 (PE + DRAM energy; SRAM unpublished, left out in both modes)",
    "dram share": "DRAM share of PE + DRAM energy, lowest and highest over the models "
                  "(published: 62-91% of the total, SRAM included)",
    "cycles": "Llama-2-7B cycles: one decode token (KV 256) and the 256-token prefill",
    "headline": "BitMoD-LY over ANT and OliVe (abstract)",
}


def _number(value: float) -> str:
    return f"{value / 1e6:,.1f} M" if value >= 1e4 else f"{value:.3g}"


def _gap(figure: Figure, mode: str) -> str:
    gap = figure.gap(mode)
    if gap is None:
        return ""
    text = f"{gap:+.0%}"
    return text if abs(gap) <= TOLERANCE else f"[bold red]{text}[/]"


def figure_table(name: str, figures: Sequence[Figure]) -> Table:
    """One table: row, column, published, paper, the 2024 revision's paper
    accounting and cycle with their gaps, the ladder."""
    table = Table(title=TITLES.get(name, name), title_justify="left")
    for column in ("", "", "published", PAPER, "gap", REVISION, "gap", CYCLE, "gap", *LADDER):
        table.add_column(column, justify="left" if not column else "right")
    for figure in figures:
        table.add_row(figure.row, figure.column, "" if figure.published is None else _number(figure.published),
                      _number(figure.measured[PAPER]), _gap(figure, PAPER), _number(figure.measured[REVISION]),
                      _gap(figure, REVISION), _number(figure.measured[CYCLE]), _gap(figure, CYCLE),
                      *(_number(figure.measured[mode]) for mode in LADDER))
    return table


def print_figures(tables: Mapping[str, Sequence[Figure]], console: Console) -> None:
    """Every table, then the reasons for each gap over 10 %."""
    for name, figures in tables.items():
        console.print(figure_table(name, figures))
    console.print("[bold]Differences over 10% and their measured causes[/] (ladder: cycle model, then removing "
                  f"{', '.join(step.lstrip('-') for step in LADDER)}, then paper accounting)")
    for figures in tables.values():
        for figure in figures:
            if figure.published is not None and not (figure.within(CYCLE) and figure.within(PAPER)):
                console.print(f"- {explain(figure)}", highlight=False)


def plot_figures(tables: Mapping[str, Sequence[Figure]], directory: Path) -> list[Path]:
    """One grouped-bar PNG per table: published, paper, paper@48975fc and cycle per figure."""
    paths = []
    for name, figures in tables.items():
        shown = [f for f in figures if f.published is not None]
        if not shown:
            continue
        series = {"published": [f.published for f in shown], PAPER: [f.measured[PAPER] for f in shown],
                  REVISION: [f.measured[REVISION] for f in shown], CYCLE: [f.measured[CYCLE] for f in shown]}
        paths.append(grouped_bars(TITLES.get(name, name), [f"{f.row}\n{f.column}" for f in shown], series,
                                  directory / f"fidelity_{name.replace(' ', '_')}.png"))
    return paths


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], path: Path) -> Path:
    """A grouped-bar PNG at `path`: one group per label, one bar per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    x, width = np.arange(len(labels)), 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels)), 4.5))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, labels, rotation=90, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
