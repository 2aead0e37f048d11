"""Mixed precision on real weights: MiniLM-L6 allocated by `allocate_bits` vs uniform.

For each average-bits budget, the ILP allocation over bitmod3 / bitmod4 / int8_sym
(groups of 128) on three objectives: the plain squared weight error, the error
weighted by E[x²] of each layer's inputs ("activation"), and the error weighted by
the model-output Fisher diagonal diag(JᵀJ) of the embeddings ("fisher",
`passes/fisher.py`, `--samples` random projections). Each is judged by the cosine
between the quantised model's sentence embeddings and fp32's; uniform bitmod4
(4.125 bits) is the reference. Reported as measured: which objective wins is the
point of the table.

By default the calibration and the judging use the same 16 accuracy sentences; with
`--held-out` the objectives are calibrated on the first 8 and judged on the other 8,
so an objective cannot win by fitting the sentences it is scored on.

Run: `.venv/bin/python benchmarks/allocation_accuracy.py [--budgets 3.625 4.125 4.5 5.0]
[--samples 32] [--held-out]`; about 40 s on two idle CPU cores, the Fisher calibration 6 s of it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.accuracy import embedding_accuracy, minilm_reference
from bitsmith.passes.allocate_bits import allocate_bits
from bitsmith.passes.calibrate import Calibration, calibrate
from bitsmith.passes.quantize_weights import quantize_weights

CANDIDATES = ["bitmod3", "bitmod4", "int8_sym"]
GROUP = 128
OBJECTIVES = ("plain", "activation", "fisher")


def calibration_inputs(held_out: bool) -> tuple[object, list[np.ndarray]]:
    """The graph and inputs to calibrate on: all 16 accuracy sentences, or the first 8."""
    graph, inputs, _ = minilm_reference()
    if not held_out:
        return graph, list(inputs)
    from bitsmith.api import lower
    from bitsmith.zoo.minilm import ACCURACY_SENTENCES, tokenize

    half = len(ACCURACY_SENTENCES) // 2
    input_ids, mask = tokenize(list(ACCURACY_SENTENCES[:half]))
    return lower("minilm", batch=half), [input_ids.numpy(), mask.numpy()]


def judged(cosines: tuple[float, ...], held_out: bool) -> tuple[float, float]:
    """(mean, worst) over the sentences the objective is judged on."""
    scored = cosines[len(cosines) // 2:] if held_out else cosines
    return float(np.mean(scored)), float(np.min(scored))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[3.625, 4.125, 4.5, 5.0])
    parser.add_argument("--samples", type=int, default=32, help="random projections for the Fisher diagonal")
    parser.add_argument("--held-out", action="store_true", help="calibrate on sentences 1-8, judge on 9-16")
    args = parser.parse_args()
    console = Console(width=150)  # the table is five columns of "mean / worst (bits)"
    graph, _, _ = minilm_reference()
    calibrated_on, inputs = calibration_inputs(args.held_out)
    calibrations: dict[str, Calibration | None] = {
        "plain": None, "activation": calibrate(calibrated_on, inputs)}
    start = time.perf_counter()
    calibrations["fisher"] = calibrate(calibrated_on, inputs, sensitivity="fisher", samples=args.samples)
    fisher_seconds = time.perf_counter() - start
    uniform = judged(embedding_accuracy(quantize_weights(graph, "bitmod4", group_size=GROUP)[0]).cosines,
                     args.held_out)
    sentences = "calibrated on sentences 1-8, judged on 9-16" if args.held_out else "16 sentences"
    table = Table(title=f"MiniLM-L6, ILP over {', '.join(CANDIDATES)} (g{GROUP}), {sentences}: embedding cosine "
                        "to fp32, mean / worst (bits used)")
    for column in ("budget bits", "uniform bitmod4", "ILP, plain error", "ILP, activation E\\[x²]",
                   f"ILP, Fisher ({args.samples} samples)"):
        table.add_column(column, justify="right")
    with console.status("allocating ..."):
        for budget in args.budgets:
            cells = [f"{budget:g}", f"{uniform[0]:.4f} / {uniform[1]:.4f}" if budget == 4.125 else "-"]
            for objective in OBJECTIVES:
                quantised, allocation = allocate_bits(graph, CANDIDATES, budget, group_size=GROUP,
                                                      calibration=calibrations[objective])
                mean, worst = judged(embedding_accuracy(quantised).cosines, args.held_out)
                cells.append(f"{mean:.4f} / {worst:.4f} ({allocation.average_bits:.3f})")
            table.add_row(*cells)
    console.print(table)
    console.print(f"Fisher calibration ({args.samples} samples, {len(inputs[0])} sentences): {fisher_seconds:.1f} s")


if __name__ == "__main__":
    main()
