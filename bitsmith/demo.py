"""`bitsmith demo`: the main job end to end on a built-in model.

Lower the real all-MiniLM-L6-v2 sentence encoder through torch.export, run the
IR with the numpy reference interpreter on built-in sentences and show how far
its embeddings are from torch's (they should agree to float precision). Then
compile it for the `bitmod` accelerator twice — the default pipeline (every weight
in the target's format) and a 4.5-bit budget (bit allocation over the target's
formats, each layer's error weighted by its Fisher sensitivity on the demo
sentences) — simulate each, and print the accuracy that compilation cost
(embedding cosine to fp32 on 16 built-in sentences) beside cycles, latency and
energy. Last, the default compile runs on this CPU through TVM and each GEMM's
measured time is printed beside the accelerator's simulated one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.ir.graph import Graph

if TYPE_CHECKING:  # the comparison brings TVM in; the demo imports it when it runs
    from bitsmith.comparison import ComparisonReport


TARGET = "bitmod"
BUDGET_BITS = 4.5


@dataclass(frozen=True)
class CompiledRun:
    """One compilation of MiniLM for the target, simulated and judged."""

    variant: str
    formats: str  # weight formats and how many weights each
    bits_per_weight: float
    cosine_mean: float  # sentence embeddings vs fp32 on ACCURACY_SENTENCES
    cosine_worst: float
    cycles: int
    latency_ms: float
    energy_uj: float
    compile_seconds: float


@dataclass(frozen=True)
class DemoResult:
    sentences: tuple[str, ...]
    cosines: tuple[float, ...]  # IR interpreter vs torch, per sentence
    max_abs_diff: float
    lower_seconds: float
    interpret_seconds: float
    torch_seconds: float
    compiled: tuple[CompiledRun, ...]
    comparison: ComparisonReport  # the default compile: simulated on the accelerator vs measured on this CPU


def run_demo(console: Console | None = None) -> DemoResult:
    import torch

    from bitsmith.api import load
    from bitsmith.comparison import compare
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
    with console.status(f"compiling MiniLM for {TARGET} and simulating it ..."):
        runs = (_compiled_run("default", graph, inputs, budget=None),
                _compiled_run(f"{BUDGET_BITS:g}-bit budget, Fisher", graph, inputs, budget=BUDGET_BITS))
    with console.status(f"compiling MiniLM for this CPU through TVM and timing it beside {TARGET} ..."):
        comparison = compare("minilm", TARGET)
    result = DemoResult(tuple(DEMO_SENTENCES), cosines, float(np.abs(ours - ref).max()), lower_s, interpret_s,
                        torch_s, runs, comparison)
    _print_result(result, console)
    comparison.print(console, max_rows=8)
    return result


def _compiled_run(variant: str, graph: Graph, inputs: list[np.ndarray], budget: float | None) -> CompiledRun:
    """Compile `graph`, simulate it, and judge its weights
    on the accuracy sentences by carrying them into the fp32 reference graph."""
    from bitsmith.accuracy import embedding_accuracy, minilm_reference
    from bitsmith.compiler import compile_model

    start = time.perf_counter()
    compiled = compile_model(graph, TARGET, inputs, budget=budget, calibrate=None if budget is None else "fisher")
    seconds = time.perf_counter() - start
    reference, _, _ = minilm_reference()
    quantised = {c.name: c for c in compiled.graph.constants if c.quant is not None}
    accuracy = embedding_accuracy(reference.replace(
        constants=tuple(quantised.get(c.name, c) for c in reference.constants)))
    elements = sum(c.type.numel for c in quantised.values())
    bits = sum(c.quant.bits_per_weight() * c.type.numel for c in quantised.values())
    counts = Counter(c.quant.scheme for c in quantised.values())
    report = compiled.simulate()
    return CompiledRun(variant, " ".join(f"{n}×{name}" for name, n in counts.most_common()), bits / elements,
                       accuracy.mean,
                       accuracy.worst, report.cycles, report.latency_s * 1e3, report.energy.total * 1e-6, seconds)


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
    table = Table(title=f"MiniLM compiled for {TARGET}: embedding cosine to fp32 (16 sentences) "
                        "and the simulated cost of a batch of 4")
    for column in ("compiled", "weights", "bits/w", "cosine mean/worst", "cycles", "ms", "µJ"):
        text = column in ("compiled", "weights")
        table.add_column(column, justify="left" if text else "right", no_wrap=not text)
    for run in result.compiled:
        table.add_row(run.variant, run.formats, f"{run.bits_per_weight:.3f}",
                      f"{run.cosine_mean:.4f}/{run.cosine_worst:.4f}", f"{run.cycles:,}", f"{run.latency_ms:.3f}",
                      f"{run.energy_uj:,.0f}")
    console.print(table)
    console.print("compile time: " + ", ".join(f"{run.variant} {run.compile_seconds:.1f} s" for run in result.compiled))
