"""Models from the user's own Python file, named `path/to/file.py:factory`.

The factory is called with no arguments (after `torch.manual_seed(seed)`, so random
initialisation is reproducible) and returns either

- an `nn.Module` with an attribute `example_inputs`, a tuple of tensors, or
- a tuple `(module, example_inputs)`.

For example:

    # models/tiny.py
    import torch

    def make():
        module = torch.nn.Linear(8, 4)
        return module, (torch.randn(2, 8),)

    # bitsmith compile models/tiny.py:make --target bitmod

Input names are the forward() parameter names where they line up, else input_0, ...
The model is shape-only when any parameter lives on the meta device.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bitsmith.zoo.errors import ModelLoadError
from bitsmith.zoo.spec import LoadedModel


def is_user_reference(name: str) -> bool:
    """True for `file.py:factory` references, the only zoo names that contain a colon."""
    return ":" in name


def load_user_model(reference: str, *, seed: int) -> LoadedModel:
    path_text, _, factory_name = reference.rpartition(":")
    factory = _find_factory(reference, Path(path_text), factory_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            made = factory()
        except Exception as exc:  # any failure in user code becomes one named error
            raise ModelLoadError(f"{reference}: factory raised {_one_line(exc)}") from exc
    module, example_inputs = _unpack(reference, made)
    module.eval()
    shape_only = any(p.is_meta for p in module.parameters())
    return LoadedModel(
        reference,
        module,
        example_inputs,
        _input_names(module, len(example_inputs)),
        shape_only,
        config={},
    )


def _find_factory(reference: str, path: Path, factory_name: str) -> Callable[[], Any]:
    if not path.is_file():
        raise ModelLoadError(f"{reference}: file not found")
    if not factory_name:
        raise ModelLoadError(f"{reference}: no factory named after ':'")
    # A name unique to the file's path, so two user files called model.py do not collide.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"bitsmith_user_model_{digest}", path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{reference}: not a loadable Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"{reference}: importing the file raised {_one_line(exc)}") from exc
    factory = getattr(module, factory_name, None)
    if factory is None:
        raise ModelLoadError(f"{reference}: no function {factory_name!r} in the file")
    if not callable(factory):
        raise ModelLoadError(f"{reference}: {factory_name!r} is not callable")
    return factory


def _unpack(reference: str, made: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    expected = "expected an nn.Module with .example_inputs or a (module, example_inputs) tuple"
    if isinstance(made, nn.Module):
        if not hasattr(made, "example_inputs"):
            raise ModelLoadError(
                f"{reference}: factory returned a module without .example_inputs; {expected}"
            )
        module, example_inputs = made, made.example_inputs
    elif isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], nn.Module):
        module, example_inputs = made
    else:
        raise ModelLoadError(f"{reference}: factory returned {type(made).__name__}; {expected}")
    if not isinstance(example_inputs, tuple) or not all(
        isinstance(x, torch.Tensor) for x in example_inputs
    ):
        got = type(example_inputs).__name__
        raise ModelLoadError(f"{reference}: example_inputs must be a tuple of tensors, got {got}")
    return module, example_inputs


def _input_names(module: nn.Module, count: int) -> tuple[str, ...]:
    params = [
        p.name
        for p in inspect.signature(module.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) == count:
        return tuple(params)
    return tuple(f"input_{i}" for i in range(count))


def _one_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`, so error messages stay one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
