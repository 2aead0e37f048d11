"""Mixed precision on real weights: MiniLM-L6 allocated by `allocate_bits` vs uniform.

For each average-bits budget, the ILP allocation over bitmod3 / bitmod4 / int8_sym
(groups of 128) on the plain squared weight error and on the calibrated one
(errors weighted by E[x²] of each layer's inputs on the accuracy sentences), judged
by the cosine between the quantised model's sentence embeddings and fp32's on the
16 built-in accuracy sentences; uniform bitmod4 (4.125 bits) is the reference.
Reported as measured: which objective wins is the point of the table.

Run: `.venv/bin/python benchmarks/allocation_accuracy.py [--budgets 3.625 4.125 4.5 5.0]`.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from bitsmith.accuracy import embedding_accuracy, minilm_reference
from bitsmith.passes.pipeline import Pipeline
from bitsmith.passes.quantize_weights import quantize_weights

CANDIDATES = ["bitmod3", "bitmod4", "int8_sym"]
GROUP = 128


def allocated(budget: float, calibrated: bool) -> tuple[float, float, float]:
    """(mean cosine, worst cosine, average bits) of the ILP allocation at `budget`."""
    graph, inputs, _ = minilm_reference()
    passes = (["calibrate"] if calibrated else []) + ["allocate_bits"]
    options = {"allocate_bits.budget_bits": budget, "allocate_bits.candidates": CANDIDATES,
               "allocate_bits.group_size": GROUP}
    result = Pipeline.of(passes, options).run(graph, inputs=list(inputs))
    specs = [c for c in result.graph.constants if c.quant is not None]
    bits = sum(c.quant.bits_per_weight() * c.type.numel for c in specs) / sum(c.type.numel for c in specs)
    accuracy = embedding_accuracy(result.graph)
    return accuracy.mean, accuracy.worst, bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[3.625, 4.125, 4.5, 5.0])
    args = parser.parse_args()
    console = Console()
    graph, _, _ = minilm_reference()
    uniform = embedding_accuracy(quantize_weights(graph, "bitmod4", group_size=GROUP)[0])
    table = Table(title=f"MiniLM-L6, ILP over {', '.join(CANDIDATES)} (g{GROUP}): embedding cosine to fp32, "
                        "mean / worst (bits used)")
    for column in ("budget bits", "uniform bitmod4", "ILP, plain error", "ILP, calibrated"):
        table.add_column(column, justify="right")
    with console.status("allocating ..."):
        for budget in args.budgets:
            cells = [f"{budget:g}", f"{uniform.mean:.4f} / {uniform.worst:.4f}" if budget == 4.125 else "-"]
            for calibrated in (False, True):
                mean, worst, bits = allocated(budget, calibrated)
                cells.append(f"{mean:.4f} / {worst:.4f} ({bits:.3f})")
            table.add_row(*cells)
    console.print(table)


if __name__ == "__main__":
    main()
