"""Compile speed: `bitsmith.compile("minilm", "bitmod")` end to end and per pass.

Four variants, each timed from the model name to the compiled graph (lowering
through torch.export included): the default pipeline (uniform target format, then
tiling), a 4.5-bit budget (allocate_bits on plain squared error, then tiling: the
default when a budget is given) and the same budget with calibration (calibrate
first, errors weighted by the inputs' E[x²], or by the embeddings' Fisher diagonal,
32 projections through torch autograd). One untimed compile first warms torch's
export caches and the tokenizer, which any long-running process has paid once.
Goal: ≤ 10 s per compile on this machine.

Run: `.venv/bin/python benchmarks/compile_speed.py [--budget 4.5]`.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import bitsmith
from bitsmith.compiler import CompiledModel

GOAL_S = 10.0
MODEL, TARGET = "minilm", "bitmod"


def _timed(**options: object) -> tuple[CompiledModel, float]:
    start = time.perf_counter()
    compiled = bitsmith.compile(MODEL, TARGET, **options)
    return compiled, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=4.5, help="average bits per weight for the budgeted runs")
    args = parser.parse_args()
    console = Console()
    _timed()  # warm-up
    variants = {
        "default pipeline": {},
        f"budget {args.budget:g} bits": {"budget": args.budget},
        f"budget {args.budget:g} bits, calibrated (activation)": {"budget": args.budget, "calibrate": "activation"},
        f"budget {args.budget:g} bits, calibrated (fisher)": {"budget": args.budget, "calibrate": "fisher"},
    }
    table = Table(title=f"bitsmith.compile({MODEL!r}, {TARGET!r}): seconds (goal ≤ {GOAL_S:g} s end to end)")
    for column in ("variant", "end to end", "lowering + rest", "passes"):
        table.add_column(column, justify="left" if column in ("variant", "passes") else "right")
    for name, options in variants.items():
        compiled, seconds = _timed(**options)
        in_passes = sum(r.seconds for r in compiled.records)
        passes = ", ".join(f"{r.name} {r.seconds:.2f}" for r in compiled.records)
        verdict = "" if seconds <= GOAL_S else " (over goal)"
        table.add_row(name, f"{seconds:.2f}{verdict}", f"{seconds - in_passes:.2f}", passes)
    console.print(table)


if __name__ == "__main__":
    main()
