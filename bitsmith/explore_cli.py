"""`bitsmith explore`: run a design-space sweep, or show what a store holds.

    bitsmith explore dse.yaml [--strategy grid|random|nsga2] [--budget N] [--seed S]
                              [--cluster tcp://HOST:PORT | local:N] [--store results.db]
    bitsmith explore show results.db [--sweep NAME] [--csv F] [--parquet F] [--plot F]

One command with `show` as a first word rather than a group with a sub-command:
a click group parses its own positional argument (the sweep file) before it
looks for sub-commands, so `explore show` and `explore dse.yaml` cannot both be
spelled that way with a group. Everything that can be wrong with the input (the
sweep file, the store, the cluster address) is checked before the store is
written, so a bad run leaves an existing store as it was.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from bitsmith.ir.errors import BitsmithError

if TYPE_CHECKING:
    from bitsmith.dse.spec import SweepSpec
    from bitsmith.dse.store import ResultStore

console = Console()


class _Rate(ProgressColumn):
    """Points evaluated per second (points read back from the store excluded)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        evaluated = task.fields.get("evaluated", 0)
        return Text(f"{evaluated / elapsed:.1f} points/s" if elapsed > 0 else "- points/s")


def explore_command(
    sweep: Annotated[str, typer.Argument(help="A sweep file (dse.yaml), or `show` to report a store.")],
    store_path: Annotated[Path | None, typer.Argument(metavar="[STORE]", help="With `show`: the results store.")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="grid, random or nsga2 (default: the sweep's).")] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Points to evaluate (default: the sweep's, or all).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: the sweep's).")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="tcp://HOST:PORT (a Dask scheduler) or local:N (a Dask LocalCluster of N workers). Default: local processes.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Local processes (default: one per core).")] = None,
    store: Annotated[Path, typer.Option("--store", help="The SQLite results store (created if absent, resumed if not).")] = Path("results.db"),
    name: Annotated[str | None, typer.Option("--sweep", help="With `show`: which sweep of the store (default: the last run).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also export every point to this CSV file.")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Also export every point to this Parquet file.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the front to this image (PNG, SVG, PDF).")] = None,
) -> None:
    """Hardware x datatype co-search: evaluate a sweep's points in parallel into a
    resumable store and print the Pareto front; `explore show STORE` reports a store."""
    from bitsmith.dse.spec import SweepError, SweepSpec
    from bitsmith.dse.store import ResultStore, check_store

    if sweep == "show":
        if store_path is None:
            raise BitsmithError("explore show: give the results store to show (explore show results.db)")
        with ResultStore(store_path, create=False) as opened:
            _report(opened, SweepSpec.model_validate(opened.sweep_spec(name)[1]), csv, parquet, plot)
        return
    if store_path is not None:
        raise BitsmithError(f"explore: unexpected argument {store_path}; the store is given with --store")
    from bitsmith.dse import Space, load_sweep, open_executor, run_sweep
    from bitsmith.dse.execute import lowered_workloads
    from bitsmith.dse.strategies import STRATEGIES, planned_points

    loaded = load_sweep(sweep)
    spec = loaded.spec
    chosen = strategy or spec.search.strategy
    if chosen not in STRATEGIES:
        raise SweepError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {chosen!r}")
    limit = budget if budget is not None else spec.search.budget
    check_store(store)
    space = Space(loaded)
    with console.status(f"lowering {', '.join(w.label for w in spec.workloads)} ..."):
        graphs = lowered_workloads(spec)
    with open_executor(cluster, workers) as executor, ResultStore(store) as opened:
        total = planned_points(space, chosen, limit)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"{spec.name} ({chosen})", total=total, evaluated=0)

            def advance(evaluated: int, reused: int) -> None:
                done = bar.tasks[task].fields["evaluated"] + evaluated
                bar.update(task, advance=evaluated + reused, evaluated=done)

            start = time.perf_counter()
            run = run_sweep(space, opened, executor, strategy=chosen, budget=limit,
                            seed=spec.search.seed if seed is None else seed, graphs=graphs, progress=advance)
        seconds = time.perf_counter() - start
        console.print(f"{run.evaluated} points evaluated in {seconds:.1f} s "
                      f"({run.evaluated / max(seconds, 1e-9):.1f} points/s), {run.reused} read from {store}, "
                      f"{run.failed} failed")
        _report(opened, spec, csv, parquet, plot)


def _report(store: ResultStore, spec: SweepSpec, csv: Path | None, parquet: Path | None, plot: Path | None) -> None:
    from bitsmith.dse.report import pareto, plot_front, print_front

    outcomes = store.outcomes(spec.name)
    found = pareto(spec, outcomes)
    print_front(spec, found, console)
    for path in (csv, parquet):
        if path is not None:
            store.export(path, spec.name)
            console.print(f"wrote {path}")
    if plot is not None:
        if not found.front:
            raise BitsmithError("no feasible points to plot")
        plot_front(spec, found, plot)
        console.print(f"wrote {plot}")
