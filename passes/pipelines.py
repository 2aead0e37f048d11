"""The default pipeline per target kind, read top to bottom, one comment per step.

Importing this module registers every built-in pass (each lives in its own file).
"""

from __future__ import annotations

from bitsmith.passes import allocate_bits, calibrate, quantize_weights, tiling  # noqa: F401  (register their passes)
from bitsmith.passes.pipeline import Pipeline
from bitsmith.targets import Target

DEFAULT_PASSES: dict[str, tuple[str, ...]] = {
    "accelerator": (
        "quantize_weights",  # every GEMM weight in the target's default format and group size
        "tiling",  # each GEMM's buffer tile and loop order, searched with the fast engine
    ),
    # CPUs and GPUs take the graph as lowered: no pass needs their description yet.
    "cpu": (),
    "gpu": (),
}

# An accelerator compiled to an average-bits budget (`bitsmith.compile(..., budget=)`).
BUDGET_PASSES: tuple[str, ...] = (
    "calibrate",  # E[x²] of each GEMM weight's inputs on the example inputs (only when asked: calibrate=True)
    "allocate_bits",  # one of the target's weight formats per weight: least (weighted) error within the budget
    "tiling",  # each GEMM's buffer tile and loop order, searched with the fast engine
)


def default_pipeline(target: Target) -> Pipeline:
    """The pipeline bitsmith runs for `target` when the user gives none."""
    return Pipeline.of(DEFAULT_PASSES[target.kind], origin=f"default pipeline for {target.name}")
