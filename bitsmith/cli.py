"""The `bitsmith` command line. Each command wires the API to rich output; bad
input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bitsmith.cli_options import AllLayers, Batch, ModelArg, ModelOrGraphArg, Phase, SeqLen, check_phase, load_graph
from bitsmith.compare_cli import compare_command
from bitsmith.compile_cli import compile_command
from bitsmith.explore_cli import explore_command
from bitsmith.ir.errors import BitsmithError
from bitsmith.report_cli import report_command
from bitsmith.reproduce_cli import reproduce_command
from bitsmith.run_cli import run_command
from bitsmith.simulate_cli import simulate_command
from bitsmith.targets_cli import targets_app
from bitsmith.trace_cli import trace_command

app = typer.Typer(
    name="bitsmith",
    help="Co-design simulator and compiler for low-bit neural-network inference.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()



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
    from bitsmith.summary import format_tables

    for title, columns, rows in format_tables():
        table = Table(title=title)
        for column in columns:
            table.add_column(column, justify="right" if column == "bits" else "left", overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)


@app.command()
def lower(
    model: ModelArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the graph (JSON, plus an .npz sidecar for weights).")],
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    batch: Batch = None,
    all_layers: AllLayers = False,
) -> None:
    """Lower MODEL through torch.export to the IR, save it, and summarise it."""
    from bitsmith.api import lower as lower_model
    from bitsmith.summary import print_summary

    check_phase(phase)
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
def quantize(
    model: ModelOrGraphArg,
    scheme: Annotated[str, typer.Option("--format", "-f", help="Format, mixture (bitmod4), MX (mxfp4) or OliVe (olive4) name; see `bitsmith formats`.")],
    group_size: Annotated[int, typer.Option("--group-size", "-g", help="Elements per scale along the reduction axis; must divide it.")] = 128,
    granularity: Annotated[str, typer.Option("--granularity", help="'group', 'channel' or 'tensor'.")] = "group",
    asymmetric: Annotated[bool, typer.Option("--asymmetric", help="Integer formats: unsigned codes with a zero point per group.")] = False,
    clip_search: Annotated[bool, typer.Option("--clip-search", help="Search a clipping ratio per group for the least MSE.")] = False,
    scale_bits: Annotated[int | None, typer.Option("--scale-bits", help="Quantise group scales to this many bits per channel (BitMoD: 8).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the quantised graph (JSON + .npz).")] = None,
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    all_layers: AllLayers = False,
) -> None:
    """Quantise MODEL's GEMM weights and print the error of every weight."""
    from bitsmith.ir.formats.schemes import resolve_scheme
    from bitsmith.passes.quantize_weights import quantize_weights
    from bitsmith.quant_report import print_quant_report

    resolve_scheme(scheme, asymmetric=asymmetric, where="--format")  # fail before lowering
    graph = load_graph(model, seq_len=seq_len, phase=phase)
    with console.status(f"quantising {graph.name} to {scheme} ..."):
        quantised, reports = quantize_weights(graph, scheme, group_size=group_size, granularity=granularity,
                                              asymmetric=asymmetric, clip_search=clip_search, scale_bits=scale_bits)
    if not reports:
        raise BitsmithError(f"{graph.name}: no GEMM weights to quantise")
    print_quant_report(reports, console, title=f"{graph.name}: weights quantised to {scheme}",
                       max_rows=None if all_layers else 40)
    if output is not None:
        quantised.save(str(output))
        console.print(f"wrote {output}")


app.add_typer(targets_app)
app.command("compile")(compile_command)
app.command("simulate")(simulate_command)
app.command("trace")(trace_command)
app.command("reproduce")(reproduce_command)
app.command("explore")(explore_command)
app.command("report")(report_command)
app.command("run")(run_command)
app.command("compare")(compare_command)


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
