"""`bitsmith reproduce`: the fidelity benchmark, published figures beside bitsmith's.

Runs `bitsmith.fidelity` for a paper and prints its tables in two modes (the
paper's own accounting and bitsmith's cycle model, with the cycle model's parts
removed one at a time), the measured cause of every gap over 10 %, and on request
grouped-bar plots. `benchmarks/fidelity.py` calls the same function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bitsmith.ir.errors import BitsmithError

PAPERS = ("bitmod", "stripes", "loom", "bitfusion", "lut-tc")


def run_reproduce(paper: str, models: list[str], plot_dir: Path | None, console: Console) -> None:
    """Compute, print and (with `plot_dir`) plot the fidelity tables of `paper`
    (`models`: BitMoD's LLMs; the other papers run their own CNN or GEMM)."""
    if paper not in PAPERS:
        raise BitsmithError(f"--paper must be one of {', '.join(PAPERS)}, got {paper!r}")
    if paper == "bitmod":
        _reproduce_bitmod(models, plot_dir, console)
        return
    from bitsmith.fidelity.classic import STUDIES, plot_rows, print_rows

    with console.status(f"simulating {paper} ..."):
        rows = STUDIES[paper]()
    print_rows(paper, rows, console)
    if plot_dir is not None:
        console.print(f"wrote {plot_rows(paper, rows, plot_dir)}")


def _reproduce_bitmod(models: list[str], plot_dir: Path | None, console: Console) -> None:
    from bitsmith.fidelity.bitmod_study import all_figures
    from bitsmith.fidelity.designs import MODELS
    from bitsmith.fidelity.published import EARLIER_REVISION
    from bitsmith.fidelity.tables import plot_figures, print_figures

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise BitsmithError(f"--models: unknown {', '.join(unknown)}; BitMoD's models are {', '.join(MODELS)}")
    with console.status(f"lowering and costing {len(models)} models ..."):
        tables = all_figures(models)
    if list(models) != list(MODELS):
        console.print(f"[yellow]note:[/] means are over {', '.join(models)}; the published means are over all six")
    print_figures(tables, console)
    console.print(f"[bold]note:[/] {EARLIER_REVISION}.", highlight=False)
    if plot_dir is not None:
        for path in plot_figures(tables, plot_dir):
            console.print(f"wrote {path}")


def reproduce_command(
    paper: Annotated[str, typer.Option("--paper", help=f"Which paper's figures: {', '.join(PAPERS)}.")] = "bitmod",
    plot_dir: Annotated[Path | None, typer.Option("--plot", help="Write one grouped-bar PNG per table here.")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", "-m", help="Zoo LLMs to run for bitmod (default: all six of BitMoD's evaluation).")] = None,
) -> None:
    """Reproduce a paper's published figures with the shipped targets, in the paper's accounting and bitsmith's cycle model."""
    from bitsmith.fidelity.designs import MODELS

    run_reproduce(paper, list(models or MODELS), plot_dir, Console())
