"""The default pipeline per target kind, read top to bottom, one comment per step.

Importing this module registers every built-in pass (each lives in its own file).
"""

from __future__ import annotations

from bitsmith.passes import (  # noqa: F401  (register their passes)
    allocate_bits, assign_dtypes, calibrate, canonicalize, fuse_epilogue, quantize_activations, quantize_weights, tiling,
)
from bitsmith.passes.pipeline import Pipeline
from bitsmith.targets import Target

DEFAULT_PASSES: dict[str, tuple[str, ...]] = {
    "accelerator": (
        "canonicalize",  # fold constants, drop no-ops, merge biases: GEMMs + vector ops only
        "quantize_weights",  # every GEMM weight in the target's default format and group size
        "quantize_activations",  # integer datapaths: a quantiser in front of every GEMM activation operand
        "fuse_epilogue",  # elementwise ops the vector unit applies as a GEMM's output drains
        "tiling",  # each GEMM's buffer tile and loop order, searched with the fast engine
    ),
    # CPUs and GPUs take the canonical graph; their backends choose their own kernels.
    "cpu": ("canonicalize",),
    "gpu": ("canonicalize",),
}

# An accelerator compiled to a budget (`bitsmith.compile(..., budget=|latency=|energy=)`).
BUDGET_PASSES: tuple[str, ...] = (
    "canonicalize",  # as above: the allocation sees the weights the hardware will hold
    "calibrate",  # sensitivities on the example inputs (only when asked: calibrate=...)
    "allocate_bits",  # one of the target's weight formats per weight: least (weighted) error within the budget
    "quantize_activations",  # integer datapaths: a quantiser in front of every GEMM activation operand
    "fuse_epilogue",  # elementwise ops the vector unit applies as a GEMM's output drains
    "tiling",  # each GEMM's buffer tile and loop order, searched with the fast engine
)


def default_pipeline(target: Target) -> Pipeline:
    """The pipeline bitsmith runs for `target` when the user gives none."""
    return Pipeline.of(DEFAULT_PASSES[target.kind], origin=f"default pipeline for {target.name}")
