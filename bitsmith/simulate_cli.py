"""`bitsmith simulate`: cost a model on a modelled accelerator, layer by layer.

The model is lowered (or loaded from a saved graph), its weights put in the
given format or the target's default (`simulator.simulate.prepare_weights`)
unless they are quantised already, then simulated; the per-layer table and the
totals are printed, and JSON and plots written on request. Bad input (unknown
target or format, work the target cannot do) is a BitsmithError, which the CLI's
`main` prints as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def simulate_command(
    model: Annotated[str, typer.Argument(help="A zoo name, path/file.py:factory, or a graph saved by `bitsmith lower`.")],
    target: Annotated[str, typer.Option("--target", "-t", help="A shipped accelerator (see `bitsmith targets`) or a target file.")],
    scheme: Annotated[str | None, typer.Option("--format", "-f", help="Weight format (default: the target's default_weights).")] = None,
    group_size: Annotated[int | None, typer.Option("--group-size", "-g", help="Weights per scale (default: the target's).")] = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="'fast' (tile by tile) or 'trace' (every cycle).")] = "fast",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    plot_dir: Annotated[Path | None, typer.Option("--plot", help="Write cycle, energy and roofline plots (PNG) here.")] = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", "-s", help="LLMs: prefill tokens, or KV-cache length when decoding.")] = None,
    phase: Annotated[str, typer.Option("--phase", help="LLMs: lower for 'prefill' or 'decode'.")] = "prefill",
    all_layers: Annotated[bool, typer.Option("--all-layers", help="List every layer, not the first 40.")] = False,
) -> None:
    """Simulate MODEL on an accelerator TARGET: cycles, traffic, energy and area per layer."""
    from bitsmith.api import lower
    from bitsmith.ir.graph import Graph
    from bitsmith.simulator.simulate import accelerator, prepare_weights, simulate

    if phase not in ("prefill", "decode"):
        raise typer.BadParameter(f"must be 'prefill' or 'decode', got {phase!r}", param_hint="--phase")
    accel = accelerator(target)  # fail on a bad target before lowering
    if model.endswith(".json") and Path(model).is_file():
        graph = Graph.load(model)
    else:
        with console.status(f"lowering {model} ..."):
            graph = lower(model, seq_len=seq_len, phase=phase)
    graph = prepare_weights(graph, accel, scheme, group_size)
    with console.status(f"simulating {graph.name} on {accel.name} ..."):
        report = simulate(graph, accel, engine=engine)
    report.print(console, max_layers=None if all_layers else 40)
    if json_path is not None:
        json_path.write_text(report.to_json())
        console.print(f"wrote {json_path}")
    if plot_dir is not None:
        for path in report.plot(plot_dir):
            console.print(f"wrote {path}")
