"""`bitsmith demo`: the main job end to end on a built-in model.

Today: lower the real all-MiniLM-L6-v2 sentence encoder through torch.export,
run the IR with the numpy reference interpreter on built-in sentences, and show
how far its embeddings are from torch's (they should agree to float precision).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class DemoResult:
    sentences: tuple[str, ...]
    cosines: tuple[float, ...]  # IR interpreter vs torch, per sentence
    max_abs_diff: float
    lower_seconds: float
    interpret_seconds: float
    torch_seconds: float


def run_demo(console: Console | None = None) -> DemoResult:
    import torch

    from bitsmith.api import load
    from bitsmith.ir import interpret
    from bitsmith.ir.frontend import from_torch
    from bitsmith.summary import print_summary
    from bitsmith.zoo.minilm import DEMO_SENTENCES

    console = console or Console()
    console.rule("[bold]bitsmith demo: all-MiniLM-L6-v2")
    with console.status("loading MiniLM and lowering it through torch.export ..."):
        model = load("minilm")
        start = time.perf_counter()
        graph = from_torch(model.module, model.example_inputs, name="minilm", input_names=model.input_names)
        lower_s = time.perf_counter() - start
    print_summary(graph, console, max_layers=8)

    inputs = [t.numpy() for t in model.example_inputs]
    ours = interpret(graph, inputs)[0]
    with torch.no_grad():
        ref = model.module(*model.example_inputs).numpy()
        torch_s = _seconds(lambda: model.module(*model.example_inputs))
    interpret_s = _seconds(lambda: interpret(graph, inputs))

    ours64, ref64 = ours.astype(np.float64), ref.astype(np.float64)
    cosines = tuple(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in zip(ours64, ref64))
    result = DemoResult(tuple(DEMO_SENTENCES), cosines, float(np.abs(ours - ref).max()), lower_s, interpret_s, torch_s)
    _print_result(result, console)
    return result


def _seconds(fn: Callable[[], object]) -> float:
    """Wall time of one warm call (the results above were the warm-up)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _print_result(result: DemoResult, console: Console) -> None:
    table = Table(title="sentence embeddings: IR interpreter (numpy) vs torch")
    table.add_column("sentence")
    table.add_column("cosine", justify="right")
    for sentence, cosine in zip(result.sentences, result.cosines):
        table.add_row(sentence, f"{cosine:.8f}")
    console.print(table)
    console.print(f"max |difference| over all embedding elements: {result.max_abs_diff:.2e}")
    console.print(f"export + lower {result.lower_seconds:.2f} s · warm run: reference interpreter "
                  f"{result.interpret_seconds * 1e3:.0f} ms, torch {result.torch_seconds * 1e3:.0f} ms")
