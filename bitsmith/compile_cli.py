"""`bitsmith compile`: lower a model, run the target's passes, print the per-layer
choices (format, bits, tile, predicted cycles) and save the compiled model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bitsmith.cli_options import AllLayers, GroupSize, ModelOrGraphArg, Phase, Scheme, SeqLen, is_saved_graph, load_graph
from bitsmith.passes.calibrate import Sensitivity

console = Console()


def compile_command(
    model: ModelOrGraphArg,
    target: Annotated[str, typer.Option("--target", "-t", help="A shipped target (see `bitsmith targets`) or a target file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the compiled graph (JSON + .npz + .target.yaml).")],
    budget: Annotated[str | None, typer.Option("--budget", help="Average bits per weight (3.5bits) or model bytes (12MB): mixed formats chosen per layer.")] = None,
    latency: Annotated[str | None, typer.Option("--latency", help="Cycles (2.5Mcycles) or time (2.5ms) the weight GEMMs may take: mixed formats chosen per layer.")] = None,
    energy: Annotated[str | None, typer.Option("--energy", help="Energy (2.5mJ, 800uJ) the weight GEMMs may take, as simulated: mixed formats chosen per layer.")] = None,
    calibrate: Annotated[Sensitivity | None, typer.Option("--calibrate", help="With a budget: weigh each weight's error by 'fisher' (the model output's Fisher diagonal) or 'activation' (E[x²] of its inputs) on the example inputs.")] = None,
    scheme: Scheme = None,
    group_size: GroupSize = None,
    pipeline: Annotated[Path | None, typer.Option("--pipeline", help="A pipeline YAML to run instead of the target's default.")] = None,
    dump_ir: Annotated[Path | None, typer.Option("--dump-ir", help="Write the IR's text form after every pass into this folder.")] = None,
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    all_layers: AllLayers = False,
) -> None:
    """Compile MODEL for TARGET: quantise, allocate bits, tile; print and save the result."""
    from bitsmith.compiler import compile_model, parse_budget, parse_energy, parse_latency
    from bitsmith.targets import load_target

    loaded = load_target(target)  # fail on a bad target or budget before lowering
    if budget is not None:
        parse_budget(budget)
    if latency is not None:
        parse_latency(latency, getattr(loaded, "clock_hz", 1.0))
    if energy is not None:
        parse_energy(energy)
    # calibration needs the model's example inputs, which lowering here would drop
    source = model if calibrate is not None and not is_saved_graph(model) else load_graph(model, seq_len=seq_len, phase=phase)
    with console.status(f"compiling {model} for {loaded.name} ..."):
        compiled = compile_model(source, loaded, budget=budget, latency=latency, energy=energy, scheme=scheme,
                                 group_size=group_size, calibrate=calibrate, seq_len=seq_len, phase=phase,
                                 pipeline=pipeline, dump_ir=dump_ir)
    if loaded.kind == "accelerator":
        report = compiled.summary(console, max_rows=None if all_layers else 40)
        console.print(f"predicted: {report.cycles:,} cycles ({report.latency_s * 1e3:.4g} ms at "
                      f"{loaded.clock_hz / 1e9:g} GHz)")
    compiled.save(output)
    console.print(f"wrote {output} (and {output.with_suffix('.target.yaml').name})")
