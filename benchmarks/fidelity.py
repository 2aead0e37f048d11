"""Fidelity: bitsmith against the published figures of the systems it models.

Runs BitMoD's evaluation (six shape-only LLMs, discriminative and generative
workloads) in BitMoD's own accounting and in bitsmith's cycle model, prints every
published figure beside both with the measured cause of each gap over 10 %, and
with `--plot DIR` writes one grouped-bar chart per table. The same code backs
`bitsmith reproduce`. Run: `.venv/bin/python benchmarks/fidelity.py [--models
llama2-7b ...] [--plot DIR]` (all six models: about four minutes, mostly lowering).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from bitsmith.fidelity.designs import MODELS
from bitsmith.reproduce_cli import run_reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--plot", type=Path, default=None, help="write grouped-bar PNGs here")
    args = parser.parse_args()
    console = Console(width=200)
    start = time.perf_counter()
    run_reproduce("bitmod", args.models, args.plot, console)
    console.print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
