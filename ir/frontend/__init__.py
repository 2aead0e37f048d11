"""Frontends: from a framework's model to the IR."""

from bitsmith.ir.frontend.torch_export import from_torch

__all__ = ["from_torch"]
