"""`bitsmith compare`: the accelerator the simulator predicts beside the CPU (or
GPU) TVM measures, layer by layer, on the same compiled graph
(`bitsmith.comparison`). Outputs that differ from the interpreter are reported
after the table and end the command with exit status 1, after `--json` is
written: a failed check is a result worth keeping too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bitsmith.cli_options import AllLayers, GroupSize, ModelOrGraphArg, Phase, Scheme, SeqLen, check_phase
from bitsmith.run_cli import Repeat, Tune

console = Console()


def compare_command(
    model: ModelOrGraphArg,
    target: Annotated[str, typer.Option("--target", "-t", help="The accelerator to simulate (see `bitsmith targets`) or a target file.")] = "bitmod",
    backend: Annotated[str, typer.Option("--backend", help="Where TVM runs the same graph: 'cpu' (this CPU) or 'cuda'.")] = "cpu",
    scheme: Scheme = None,
    group_size: GroupSize = None,
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    repeat: Repeat = 7,
    tune: Tune = False,
    all_layers: AllLayers = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also save the comparison as JSON, for `bitsmith report`.")] = None,
) -> None:
    """Simulate MODEL on accelerator TARGET and time the same graph on BACKEND with TVM, per layer."""
    from bitsmith.comparison import compare

    check_phase(phase)
    with console.status(f"compiling, simulating and timing {model} ..."):
        report = compare(model, target, backend, scheme=scheme, group_size=group_size, seq_len=seq_len,
                         phase=phase, repeat=repeat, tune=tune)
    report.print(console, max_rows=None if all_layers else 40)
    if json_path is not None:
        json_path.write_text(report.to_json())
        console.print(f"wrote {json_path}")
    if not report.check.ok:
        raise typer.Exit(1)
