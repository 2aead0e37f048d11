"""Decoder LLMs from `transformers`: configs, meta-device build, prefill and decode wrappers.

Each entry's config is written here field by field from the model's public config.json
(URL beside it), so no download is ever needed. Large models are built inside
`with torch.device("meta")`: parameters get shapes and dtypes but no storage, so a 13B
model costs a few MB and `torch.export` traces it in seconds. `llama-tiny` uses the same
code with a tiny config and real seeded weights, which is what lets the tests check the
wrappers numerically; `build_llm(..., overrides=..., shape_only=False)` does the same for
any family.

Two phases, both returning logits only (a transformers Cache object is not a tensor and
would not survive export):

- prefill: `forward(input_ids[B, S])` -> logits[B, S, vocab], no cache.
- decode: `forward(input_ids[B, 1], past_key_0, past_value_0, ...)` with each K/V
  shaped [B, kv_heads, S, head_dim] -> logits[B, 1, vocab] for token S+1. The cache
  enters as plain tensors (graph inputs) and is wrapped in a DynamicCache inside forward.

Attention: transformers 5 never skips causal-mask construction while `torch.export`
traces (masking_utils._ignore_causal_mask_sdpa returns False when exporting), so with
`attn_implementation="sdpa"` every graph gains a boolean [B, 1, Sq, Skv] mask built from
arange/diff/cumsum/index/`&` ops, plus `repeat_kv` expands for grouped-query attention.
The zoo's token batches are never padded, so the mask is exactly "causal" in prefill and
"all keys" in decode. We therefore register `ATTN_IMPLEMENTATION`: transformers' own
`sdpa_attention_forward`, but with no mask function registered for it, which makes
`create_causal_mask` return None. `sdpa_attention_forward` then sets `is_causal = Sq > 1`
and `enable_gqa=True`, so each layer exports as one
`scaled_dot_product_attention(q, k, v, is_causal=S>1, enable_gqa=...)` and nothing else.
The tests check the logits against stock `"sdpa"` models.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import transformers
from torch import nn
from transformers.cache_utils import DynamicCache, DynamicLayer

from bitsmith.zoo.errors import ZooError
from bitsmith.zoo.spec import LoadedModel

if TYPE_CHECKING:
    from transformers import PreTrainedConfig, PreTrainedModel

ATTN_IMPLEMENTATION = "bitsmith_sdpa"
PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class LlmEntry:
    """A zoo LLM: which transformers classes build it and the config.json fields to build it from.

    Classes are named, not imported: importing transformers' modeling code costs seconds,
    and listing the zoo should not pay it.
    """

    name: str
    description: str
    source: str
    model_class: str
    config_class: str
    config: Mapping[str, Any]
    shape_only: bool
    default_seq_len: int


LLMS: dict[str, LlmEntry] = {
    entry.name: entry
    for entry in (
        LlmEntry(
            name="llama-tiny",
            description="2-layer Llama, hidden 64, GQA 4q/2kv, vocab 256, real seeded weights",
            source="built in code (transformers LlamaConfig)",
            model_class="LlamaForCausalLM",
            config_class="LlamaConfig",
            config=dict(
                vocab_size=256,
                hidden_size=64,
                intermediate_size=172,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=256,
            ),
            shape_only=False,
            default_seq_len=16,
        ),
        LlmEntry(
            name="llama2-7b",
            description="Llama-2-7B (shape only): 32 layers, hidden 4096, 32 heads",
            # https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
            source="https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
            model_class="LlamaForCausalLM",
            config_class="LlamaConfig",
            config=dict(
                vocab_size=32000,
                hidden_size=4096,
                intermediate_size=11008,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=32,
                max_position_embeddings=4096,
                rms_norm_eps=1e-5,
                rope_theta=10000.0,
                tie_word_embeddings=False,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
        LlmEntry(
            name="llama2-13b",
            description="Llama-2-13B (shape only): 40 layers, hidden 5120, 40 heads",
            # https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json
            source="https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json",
            model_class="LlamaForCausalLM",
            config_class="LlamaConfig",
            config=dict(
                vocab_size=32000,
                hidden_size=5120,
                intermediate_size=13824,
                num_hidden_layers=40,
                num_attention_heads=40,
                num_key_value_heads=40,
                max_position_embeddings=4096,
                rms_norm_eps=1e-5,
                rope_theta=10000.0,
                tie_word_embeddings=False,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
        LlmEntry(
            name="llama3-8b",
            description="Llama-3-8B (shape only): 32 layers, hidden 4096, GQA 32q/8kv, vocab 128k",
            # https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json
            source="https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json",
            model_class="LlamaForCausalLM",
            config_class="LlamaConfig",
            config=dict(
                vocab_size=128256,
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                max_position_embeddings=8192,
                rms_norm_eps=1e-5,
                rope_theta=500000.0,
                tie_word_embeddings=False,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
        LlmEntry(
            name="opt-1.3b",
            description="OPT-1.3B (shape only): 24 layers, hidden 2048, learned positions, tied",
            # https://huggingface.co/facebook/opt-1.3b/blob/main/config.json
            source="https://huggingface.co/facebook/opt-1.3b/blob/main/config.json",
            model_class="OPTForCausalLM",
            config_class="OPTConfig",
            config=dict(
                vocab_size=50272,
                hidden_size=2048,
                word_embed_proj_dim=2048,
                ffn_dim=8192,
                num_hidden_layers=24,
                num_attention_heads=32,
                max_position_embeddings=2048,
                do_layer_norm_before=True,
                activation_function="relu",
                enable_bias=True,
                pad_token_id=1,
                tie_word_embeddings=True,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
        LlmEntry(
            name="phi-2",
            description="Phi-2 (shape only): 32 layers, hidden 2560, parallel attn/MLP, 40% rotary",
            # https://huggingface.co/microsoft/phi-2/blob/main/config.json
            source="https://huggingface.co/microsoft/phi-2/blob/main/config.json",
            model_class="PhiForCausalLM",
            config_class="PhiConfig",
            config=dict(
                vocab_size=51200,
                hidden_size=2560,
                intermediate_size=10240,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=32,
                max_position_embeddings=2048,
                hidden_act="gelu_new",
                layer_norm_eps=1e-5,
                partial_rotary_factor=0.4,
                rope_theta=10000.0,
                qk_layernorm=False,
                tie_word_embeddings=False,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
        LlmEntry(
            name="yi-6b",
            description="Yi-6B (shape only): Llama architecture, 32 layers, GQA 32q/4kv, vocab 64k",
            # https://huggingface.co/01-ai/Yi-6B/blob/main/config.json
            source="https://huggingface.co/01-ai/Yi-6B/blob/main/config.json",
            model_class="LlamaForCausalLM",
            config_class="LlamaConfig",
            config=dict(
                vocab_size=64000,
                hidden_size=4096,
                intermediate_size=11008,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=4,
                max_position_embeddings=4096,
                rms_norm_eps=1e-5,
                rope_theta=5000000.0,
                tie_word_embeddings=False,
            ),
            shape_only=True,
            default_seq_len=256,
        ),
    )
}


def hf_config(entry: LlmEntry, overrides: Mapping[str, Any] | None = None) -> PreTrainedConfig:
    """The transformers config for `entry`, with config.json-style `overrides` applied."""
    _register_attention()
    fields = {**entry.config, **(overrides or {})}
    config_class = getattr(transformers, entry.config_class)
    return config_class(**fields, attn_implementation=ATTN_IMPLEMENTATION)


@functools.cache
def _register_attention() -> None:
    """Register ATTN_IMPLEMENTATION (see the module docstring) once per process."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    transformers.AttentionInterface.register(ATTN_IMPLEMENTATION, sdpa_attention_forward)


def architecture(config: PreTrainedConfig) -> dict[str, Any]:
    """The architecture numbers under one set of names for all families.

    OPT names its MLP width `ffn_dim` and has no grouped-query attention; Phi and OPT
    derive head_dim from hidden_size. Counting code (tests/zoo/llm_counts.py) reads these.
    """
    heads = config.num_attention_heads
    mlp_width = config.ffn_dim if config.model_type == "opt" else config.intermediate_size
    numbers = {
        "arch": config.model_type,
        "family": "decoder",
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "num_heads": heads,
        "num_kv_heads": getattr(config, "num_key_value_heads", None) or heads,
        "head_dim": getattr(config, "head_dim", None) or config.hidden_size // heads,
        "intermediate_size": mlp_width,
        "max_positions": config.max_position_embeddings,
        "tie_word_embeddings": config.tie_word_embeddings,
    }
    rope = getattr(config, "rope_parameters", None)
    if rope:
        numbers["rope_theta"] = rope["rope_theta"]
        numbers["partial_rotary_factor"] = rope.get("partial_rotary_factor", 1.0)
    return numbers


class PrefillLogits(nn.Module):
    """forward(input_ids[B, S]) -> logits[B, S, vocab], without a KV cache."""

    def __init__(self, lm: PreTrainedModel):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Explicit positions keep OPT from deriving them with a cumsum over an all-ones mask.
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        return self.lm(input_ids=input_ids, position_ids=positions, use_cache=False).logits


class DecodeLogits(nn.Module):
    """forward(input_ids[B, 1], k_0, v_0, k_1, v_1, ...) -> logits[B, 1, vocab].

    k_i, v_i are layer i's cached keys and values, [B, kv_heads, S, head_dim] (keys after
    rotary embedding, as transformers caches them). The new token sits at position S.
    """

    def __init__(self, lm: PreTrainedModel):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, *past: torch.Tensor) -> torch.Tensor:
        cache = DynamicCache()
        cache.layers = [_filled_layer(k, v) for k, v in zip(past[0::2], past[1::2], strict=True)]
        past_len = past[0].shape[2]
        positions = torch.arange(
            past_len, past_len + input_ids.shape[1], device=input_ids.device
        ).unsqueeze(0)
        out = self.lm(
            input_ids=input_ids, past_key_values=cache, position_ids=positions, use_cache=True
        )
        return out.logits


def _filled_layer(keys: torch.Tensor, values: torch.Tensor) -> DynamicLayer:
    """A cache layer that already holds `keys` and `values`.

    `DynamicCache(ddp_cache_data=...)` would seed each layer by concatenating onto a fresh
    empty tensor, which leaves a lifted constant, a `detach_` and a `cat` with a 0-length
    operand per layer in the exported graph; setting the state directly leaves only the
    one `cat` of old and new K/V that decoding really does.
    """
    layer = DynamicLayer()
    layer.dtype, layer.device = keys.dtype, keys.device
    layer.keys, layer.values = keys, values
    layer.is_initialized = True
    return layer


def build_llm(
    entry: LlmEntry,
    *,
    seq_len: int | None,
    phase: str,
    batch: int,
    seed: int,
    overrides: Mapping[str, Any] | None = None,
    shape_only: bool | None = None,
) -> LoadedModel:
    """Build `entry` in `phase` with `seq_len` tokens (prompt in prefill, cache in decode).

    `overrides` replace config.json fields and `shape_only` replaces the entry's choice, so
    a test can build any family small and with real weights.
    """
    shape_only = entry.shape_only if shape_only is None else shape_only
    seq_len = entry.default_seq_len if seq_len is None else seq_len
    config = hf_config(entry, overrides)
    numbers = architecture(config)
    _check_request(entry.name, phase, seq_len, batch, numbers["max_positions"])

    device = torch.device("meta" if shape_only else "cpu")
    with torch.random.fork_rng(devices=[]), device:
        torch.manual_seed(seed)
        lm = getattr(transformers, entry.model_class)(config).eval()

    numbers.update(seq_len=seq_len, phase=phase, batch=batch)
    generator = torch.Generator().manual_seed(seed)
    if phase == "prefill":
        ids = _token_ids(numbers["vocab_size"], (batch, seq_len), device, generator)
        return LoadedModel(
            entry.name, PrefillLogits(lm).eval(), (ids,), ("input_ids",), shape_only, numbers
        )

    prompt = _token_ids(numbers["vocab_size"], (batch, seq_len), device, generator)
    new_token = _token_ids(numbers["vocab_size"], (batch, 1), device, generator)
    past = _meta_past(numbers) if shape_only else _past_key_values(lm, prompt)
    names = ["input_ids"]
    for i in range(numbers["num_layers"]):
        names += [f"past_key_{i}", f"past_value_{i}"]
    return LoadedModel(
        entry.name, DecodeLogits(lm).eval(), (new_token, *past), tuple(names), shape_only, numbers
    )


def _check_request(name: str, phase: str, seq_len: int, batch: int, max_positions: int) -> None:
    if phase not in PHASES:
        raise ZooError(f"{name}: unknown phase {phase!r}; valid: {', '.join(PHASES)}")
    if batch < 1:
        raise ZooError(f"{name}: batch must be >= 1, got {batch}")
    # Decode places the new token after the cache, so it needs one position more.
    longest = max_positions - (1 if phase == "decode" else 0)
    if not 1 <= seq_len <= longest:
        raise ZooError(f"{name}: seq_len {seq_len} out of range for {phase} (1..{longest})")


def _token_ids(
    vocab: int, shape: tuple[int, int], device: torch.device, generator: torch.Generator
) -> torch.Tensor:
    if device.type == "meta":
        return torch.empty(shape, dtype=torch.int64, device=device)
    return torch.randint(0, vocab, shape, generator=generator)


def _past_key_values(lm: PreTrainedModel, prompt: torch.Tensor) -> list[torch.Tensor]:
    """The real K/V cache of `prompt` as k_0, v_0, k_1, ...: a self-consistent decode example."""
    with torch.no_grad():
        cache = lm(input_ids=prompt, use_cache=True).past_key_values
    flat = []
    for layer in cache.layers:
        flat += [layer.keys, layer.values]
    return flat


def _meta_past(numbers: dict[str, Any]) -> list[torch.Tensor]:
    shape = (numbers["batch"], numbers["num_kv_heads"], numbers["seq_len"], numbers["head_dim"])
    return [torch.empty(shape, device="meta") for _ in range(2 * numbers["num_layers"])]
