"""Fidelity: bitsmith against the published figures of the systems it models.

Runs BitMoD's evaluation (six shape-only LLMs, discriminative and generative
workloads) in BitMoD's own accounting and in bitsmith's cycle model, prints every
published figure beside both with the measured cause of each gap over 10 %; then
Stripes, Loom, Bit Fusion and LUT Tensor Core simulated on their own style of
workload beside their papers' throughput laws; with `--plot DIR` writes one
grouped-bar chart per table. The same code backs
`bitsmith reproduce`. Run: `.venv/bin/python benchmarks/fidelity.py [--models
llama2-7b ...] [--papers bitmod ...] [--plot DIR]` (all six models: about six minutes,
mostly lowering).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from bitsmith.fidelity.designs import MODELS
from bitsmith.reproduce_cli import PAPERS, run_reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--papers", nargs="+", default=list(PAPERS), choices=PAPERS)
    parser.add_argument("--plot", type=Path, default=None, help="write grouped-bar PNGs here")
    args = parser.parse_args()
    console = Console(width=200)
    start = time.perf_counter()
    for paper in args.papers:
        run_reproduce(paper, args.models, args.plot, console)
    console.print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
