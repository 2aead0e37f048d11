"""Frontends: from a framework's model to the IR.

`from_torch` is imported on first use, so the graph clean-ups here (which passes
reuse) do not pull torch into programs that only read and rewrite graphs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["from_torch"]


def __getattr__(name: str) -> Any:
    if name == "from_torch":
        from bitsmith.ir.frontend.torch_export import from_torch

        return from_torch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
