"""Lowering and interpreter speed on the real-weight zoo models.

Prints, per model: torch.export + lowering time, and the numpy reference
interpreter's time beside torch eager on the same inputs (median of repeats),
with their ratio. Run: `.venv/bin/python benchmarks/lowering.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bitsmith.ir import interpret
from bitsmith.ir.frontend import from_torch
from bitsmith.zoo import load_model

MODELS = ("minilm", "llama-tiny")


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls pay for allocation and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    table = Table(title=f"lowering and interpretation (median of {args.repeats})")
    for column in ("model", "export+lower s", "interpret ms", "torch ms", "interpret / torch", "max rel err"):
        table.add_column(column, justify="right")
    for name in MODELS:
        model = load_model(name)
        start = time.perf_counter()
        graph = from_torch(model.module, model.example_inputs, name=name, input_names=model.input_names)
        lower_s = time.perf_counter() - start
        inputs = [t.numpy() for t in model.example_inputs]
        ours_s = median_seconds(lambda: interpret(graph, inputs), args.repeats)
        with torch.no_grad():
            torch_s = median_seconds(lambda: model.module(*model.example_inputs), args.repeats)
            reference = model.module(*model.example_inputs).numpy()
        ours = interpret(graph, inputs)[0]
        error = float(np.abs(ours - reference).max() / np.abs(reference).max())
        table.add_row(name, f"{lower_s:.2f}", f"{ours_s * 1e3:.1f}", f"{torch_s * 1e3:.1f}",
                      f"{ours_s / torch_s:.2f}x", f"{error:.1e}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
