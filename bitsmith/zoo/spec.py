"""What the zoo hands out: a catalogue entry (`ModelSpec`) and a built model (`LoadedModel`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue line, cheap to list: nothing is built until `load_model`."""

    name: str
    description: str
    family: str  # "mlp" | "cnn" | "decoder" | "encoder"
    shape_only: bool  # built on torch's meta device: weights have shapes but no data
    source: str  # where the config/weights come from: a config.json URL, a package, "built in code"


@dataclass
class LoadedModel:
    """A model ready for `torch.export.export(module, example_inputs)`.

    `config` holds the architecture numbers (sizes, layer count, seq_len, phase, ...) so
    that tests and reports can compute expected counts without reading the module.
    """

    name: str
    module: torch.nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    shape_only: bool
    config: dict[str, Any]

    def __post_init__(self) -> None:
        if len(self.input_names) != len(self.example_inputs):
            raise ValueError(
                f"{self.name}: {len(self.input_names)} input names for "
                f"{len(self.example_inputs)} example inputs"
            )
