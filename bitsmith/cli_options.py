"""Options several `bitsmith` commands share, declared once, and the one rule for
what a MODEL argument names (a saved graph, a zoo model or `file.py:factory`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bitsmith.ir.graph import Graph

PHASES = ("prefill", "decode")

ModelArg = Annotated[str, typer.Argument(help="A zoo name (see `bitsmith models`) or path/file.py:factory.")]
ModelOrGraphArg = Annotated[str, typer.Argument(
    help="A zoo name, path/file.py:factory, or a graph saved by `bitsmith lower`/`compile`.")]
SeqLen = Annotated[int | None, typer.Option(
    "--seq-len", "-s", help="Sequence length S (LLMs: prefill tokens, or KV-cache length when decoding).")]
Phase = Annotated[str, typer.Option("--phase", help="LLMs: 'prefill' (S tokens) or 'decode' (one token, KV cache of S).")]
Batch = Annotated[int | None, typer.Option("--batch", "-b", help="Batch size (default: the model's own).")]
Scheme = Annotated[str | None, typer.Option(
    "--format", "-f", help="Weight format, mixture, MX or OliVe scheme (default: the target's).")]
GroupSize = Annotated[int | None, typer.Option("--group-size", "-g", help="Weights per scale (default: the target's).")]
AllLayers = Annotated[bool, typer.Option("--all-layers", help="List every layer, not the first 40.")]


def check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise typer.BadParameter(f"must be 'prefill' or 'decode', got {phase!r}", param_hint="--phase")


def is_saved_graph(model: str) -> bool:
    return model.endswith(".json") and Path(model).is_file()


def load_graph(model: str, *, seq_len: int | None, phase: str, status: str = "lowering") -> Graph:
    """MODEL as a graph: a saved one is loaded, anything else lowered (with a spinner)."""
    from rich.console import Console

    from bitsmith.api import lower
    from bitsmith.ir.graph import Graph

    check_phase(phase)
    if is_saved_graph(model):
        return Graph.load(model)
    with Console().status(f"{status} {model} ..."):
        return lower(model, seq_len=seq_len, phase=phase)
