"""`bitsmith simulate`: cost a model on a modelled accelerator, layer by layer.

The model is lowered (or loaded from a saved graph), its weights put in the
given format or the target's default (`compiler.prepare_weights`)
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

from bitsmith.cli_options import (AllLayers, GroupSize, ModelOrGraphArg, Phase, Scheme, SeqLen, check_phase,
                                  is_saved_graph, load_graph)

console = Console()


def simulate_command(
    model: ModelOrGraphArg,
    target: Annotated[str | None, typer.Option("--target", "-t", help="A shipped accelerator (see `bitsmith targets`) or a target file; default for a compiled model: the target it was compiled for.")] = None,
    scheme: Scheme = None,
    group_size: GroupSize = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="'fast' (tile by tile) or 'trace' (every cycle).")] = "fast",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    plot_dir: Annotated[Path | None, typer.Option("--plot", help="Write cycle, energy and roofline plots (PNG) here.")] = None,
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    all_layers: AllLayers = False,
) -> None:
    """Simulate MODEL on an accelerator TARGET: cycles, traffic, energy and area per layer."""
    from bitsmith.compiler import prepare_weights, target_path
    from bitsmith.ir.errors import BitsmithError
    from bitsmith.simulator.simulate import accelerator, simulate

    check_phase(phase)
    if target is None:
        beside = target_path(model)
        if not (is_saved_graph(model) and beside.is_file()):
            raise BitsmithError("--target is required unless MODEL is a model saved by `bitsmith compile`")
        target = str(beside)
    accel = accelerator(target)  # fail on a bad target before lowering
    graph = load_graph(model, seq_len=seq_len, phase=phase)
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
