"""The public Python API of the front door: turn a model name into an IR graph.

Later stages (compile, simulate, build, explore) hang off the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bitsmith.ir.graph import Graph, sanitize_name

if TYPE_CHECKING:
    import torch

    from bitsmith.zoo import LoadedModel


def load(model: str, *, seq_len: int | None = None, phase: str = "prefill", batch: int | None = None) -> LoadedModel:
    """A zoo model by name, or a user's model as `path/file.py:factory`; None
    leaves a setting at the model's default."""
    from bitsmith.zoo import load_model

    return load_model(model, seq_len=seq_len, phase=phase, batch=batch)


def lower(
    model: str | LoadedModel | torch.nn.Module,
    example_inputs: Sequence[Any] | None = None,
    *,
    seq_len: int | None = None,
    phase: str = "prefill",
    batch: int | None = None,
) -> Graph:
    """Lower a model to a verified IR graph.

    `model` is a zoo name / `file.py:factory` or a model `load` returned (example
    inputs come with it), or a torch module together with `example_inputs`.
    """
    from bitsmith.ir.frontend import from_torch
    from bitsmith.zoo import LoadedModel

    if isinstance(model, str):
        model = load(model, seq_len=seq_len, phase=phase, batch=batch)
    if isinstance(model, LoadedModel):
        return from_torch(model.module, model.example_inputs, name=sanitize_name(model.name),
                          input_names=model.input_names)
    if example_inputs is None:
        raise ValueError("lowering a torch module needs example_inputs")
    return from_torch(model, example_inputs)
