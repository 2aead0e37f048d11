"""The zoo's catalogue and its one entry point, `load_model`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bitsmith.zoo import llm, minilm, small_models
from bitsmith.zoo.errors import UnknownModelError, ZooError
from bitsmith.zoo.spec import LoadedModel, ModelSpec
from bitsmith.zoo.user_model import is_user_reference, load_user_model


@dataclass(frozen=True)
class _Request:
    """The options of `load_model`, as given (None: the model's default)."""

    seq_len: int | None
    phase: str
    batch: int | None
    seed: int


def _no_sequence(name: str, build: Callable[..., LoadedModel]) -> Callable[[_Request], LoadedModel]:
    """Adapter for models without tokens: seq_len and decode make no sense and are refused."""

    def load(request: _Request) -> LoadedModel:
        if request.seq_len is not None:
            raise ZooError(f"{name}: takes no seq_len")
        if request.phase != "prefill":
            raise ZooError(f"{name}: has no {request.phase!r} phase, only 'prefill'")
        batch = 1 if request.batch is None else request.batch
        if batch < 1:
            raise ZooError(f"{name}: batch must be >= 1, got {batch}")
        return build(batch=batch, seed=request.seed)

    return load


def _minilm(request: _Request) -> LoadedModel:
    if request.phase != "prefill":
        raise ZooError(f"minilm: has no {request.phase!r} phase, only 'prefill'")
    return minilm.build_minilm(seq_len=request.seq_len, batch=request.batch)


def _llm(entry: llm.LlmEntry) -> Callable[[_Request], LoadedModel]:
    def load(request: _Request) -> LoadedModel:
        return llm.build_llm(
            entry,
            seq_len=request.seq_len,
            phase=request.phase,
            batch=1 if request.batch is None else request.batch,
            seed=request.seed,
        )

    return load


_ENTRIES: tuple[tuple[ModelSpec, Callable[[_Request], LoadedModel]], ...] = (
    (
        ModelSpec(
            "mlp", "Linear-ReLU-Linear-GELU-Linear, 64-128-128-10", "mlp", False, "built in code"
        ),
        _no_sequence("mlp", small_models.build_mlp),
    ),
    (
        ModelSpec(
            "resnet-tiny",
            "ResNet stem + 2 basic blocks (one stride-2 with 1x1 downsample), 3x32x32 -> 10",
            "cnn",
            False,
            "built in code",
        ),
        _no_sequence("resnet-tiny", small_models.build_resnet_tiny),
    ),
    (
        ModelSpec(
            "minilm",
            "all-MiniLM-L6-v2 sentence embeddings (real weights): BERT, mean pool, L2 norm",
            "encoder",
            False,
            minilm.SOURCE,
        ),
        _minilm,
    ),
    *(
        (ModelSpec(e.name, e.description, "decoder", e.shape_only, e.source), _llm(e))
        for e in llm.LLMS.values()
    ),
)
_LOADERS = {spec.name: load for spec, load in _ENTRIES}


def list_models() -> list[ModelSpec]:
    """Every zoo entry, in catalogue order (small real models first)."""
    return [spec for spec, _ in _ENTRIES]


def load_model(
    name: str,
    *,
    seq_len: int | None = None,
    phase: str = "prefill",
    batch: int | None = None,
    seed: int = 0,
) -> LoadedModel:
    """Build a zoo model, or a user model named `path/to/file.py:factory`.

    seq_len: tokens in the prompt (prefill) or in the KV cache (decode); None gives the
    model's default (LLMs 256, llama-tiny 16, minilm 32). phase: "prefill" or "decode"
    (decoder LLMs only). batch: None gives the model's default, 1 except minilm, whose
    default is one row per DEMO_SENTENCES entry. seed fixes weights and example inputs.
    """
    if is_user_reference(name):
        if seq_len is not None or phase != "prefill" or batch is not None:
            raise ZooError(
                f"{name}: a user model takes no seq_len, phase or batch; its factory fixes them"
            )
        return load_user_model(name, seed=seed)
    load = _LOADERS.get(name)
    if load is None:
        raise UnknownModelError(f"unknown model {name!r}; valid: {', '.join(_LOADERS)}")
    return load(_Request(seq_len=seq_len, phase=phase, batch=batch, seed=seed))
