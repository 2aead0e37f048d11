"""The `bitsmith` command line. Each command wires the API to rich output; bad
input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bitsmith.ir.errors import BitsmithError

app = typer.Typer(
    name="bitsmith",
    help="Co-design simulator and compiler for low-bit neural-network inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

ModelArg = Annotated[str, typer.Argument(help="A zoo name (see `bitsmith models`) or path/file.py:factory.")]
SeqLen = Annotated[int | None, typer.Option("--seq-len", "-s", help="Sequence length S (LLMs: prefill tokens, or KV-cache length when decoding).")]
Phase = Annotated[str, typer.Option("--phase", help="LLMs: 'prefill' (S tokens) or 'decode' (one token, KV cache of S).")]
Batch = Annotated[int | None, typer.Option("--batch", "-b", help="Batch size (default: the model's own).")]


@app.command()
def models() -> None:
    """List the model zoo."""
    from bitsmith.zoo import list_models

    table = Table(title="bitsmith model zoo")
    for column in ("name", "family", "weights", "description"):
        table.add_column(column)
    for spec in list_models():
        table.add_row(spec.name, spec.family, "shape-only" if spec.shape_only else "real",
                      spec.description)
    console.print(table)


@app.command()
def formats() -> None:
    """List every number format: bits, family, value grid (or range), and what it is."""
    from bitsmith.ir.formats import MIXTURES, format_names, get_format
    from bitsmith.summary import grid_text

    table = Table(title="bitsmith number formats (values in the format's own units, before scaling)")
    table.add_column("name")
    table.add_column("bits", justify="right")
    table.add_column("family")
    table.add_column("values", overflow="fold")
    table.add_column("description", overflow="fold")
    for name in format_names():
        fmt = get_format(name)
        table.add_row(name, str(fmt.bits), fmt.family, grid_text(fmt.grid), fmt.description)
    console.print(table)
    mixtures = Table(title="per-group mixtures (each group takes the candidate with the least error)")
    mixtures.add_column("name")
    mixtures.add_column("candidates")
    for name, members in MIXTURES.items():
        mixtures.add_row(name, ", ".join(members))
    console.print(mixtures)


@app.command()
def lower(
    model: ModelArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the graph (JSON, plus an .npz sidecar for weights).")],
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    batch: Batch = None,
    all_layers: Annotated[bool, typer.Option("--all-layers", help="List every layer, not the first 40.")] = False,
) -> None:
    """Lower MODEL through torch.export to the IR, save it, and summarise it."""
    from bitsmith.api import lower as lower_model
    from bitsmith.summary import print_summary

    if phase not in ("prefill", "decode"):
        raise typer.BadParameter(f"must be 'prefill' or 'decode', got {phase!r}", param_hint="--phase")
    with console.status(f"lowering {model} ..."):
        graph = lower_model(model, seq_len=seq_len, phase=phase, batch=batch)
        graph.save(str(output))
    print_summary(graph, console, max_layers=None if all_layers else 40)
    console.print(f"wrote {output}")


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A graph saved by `bitsmith lower`.")],
    summary: Annotated[bool, typer.Option("--summary", help="Print the per-layer summary instead of the text form.")] = False,
) -> None:
    """Print a saved graph in the IR's text form (one line per node)."""
    from bitsmith.ir.graph import Graph
    from bitsmith.summary import print_summary

    graph = Graph.load(str(path))
    if summary:
        print_summary(graph, console)
    else:
        print(graph)


@app.command()
def demo() -> None:
    """Run the main job on a built-in model (MiniLM, lowered and checked against torch)."""
    from bitsmith.demo import run_demo

    run_demo(console)


def main() -> None:
    """Entry point. Usage errors are typer's to report; bitsmith's own errors on
    bad input become one line on stderr and exit status 1."""
    try:
        app()
    except BitsmithError as err:
        Console(stderr=True).print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(1)
