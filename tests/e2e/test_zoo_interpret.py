"""Every small zoo model, lowered and run by the numpy reference interpreter,
gives torch's output (fp32): the IR and the interpreter are a faithful golden model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitsmith.ir import interpret
from bitsmith.ir.frontend import from_torch
from bitsmith.zoo import load_model


def lower_and_run(name: str, **options) -> tuple[list[np.ndarray], list[np.ndarray]]:
    model = load_model(name, **options)
    graph = from_torch(model.module, model.example_inputs, name=name, input_names=model.input_names)
    ours = interpret(graph, [t.numpy() for t in model.example_inputs])
    with torch.no_grad():
        theirs = model.module(*model.example_inputs)
    theirs = [theirs] if isinstance(theirs, torch.Tensor) else list(theirs)
    return ours, [t.numpy() for t in theirs]


def max_relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours.astype(np.float64) - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize(
    "name, options",
    [("mlp", {}), ("resnet-tiny", {}), ("llama-tiny", {}), ("llama-tiny", {"phase": "decode"}),
     ("llama-tiny", {"seq_len": 33, "batch": 2}), ("minilm", {})],
    ids=["mlp", "resnet-tiny", "llama-tiny", "llama-tiny-decode", "llama-tiny-s33-b2", "minilm"],
)
def test_interpreter_matches_torch(name: str, options: dict) -> None:
    ours, theirs = lower_and_run(name, **options)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert max_relative_error(a, b) <= 1e-5


def test_minilm_sentence_embeddings_match_torch() -> None:
    """Published model: sentence-transformers/all-MiniLM-L6-v2 (384-d, L2-normalised)."""
    (ours,), (theirs,) = lower_and_run("minilm")
    assert ours.shape == (4, 384)
    for a, b in zip(ours.astype(np.float64), theirs.astype(np.float64)):
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.99999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-6)


def test_demo_reports_agreement() -> None:
    from rich.console import Console

    from bitsmith.demo import run_demo

    result = run_demo(Console(file=open("/dev/null", "w")))
    assert min(result.cosines) >= 0.99999 and result.max_abs_diff < 1e-5
