"""Decoder LLMs: configs, parameter and MAC counts by hand formula, decode wrapper numerics."""

import copy

import pytest
import torch
from llm_counts import HF_CONFIGS, PUBLISHED_PARAMS, expected_linear_macs, expected_params
from torch.utils.flop_counter import FlopCounterMode

from bitsmith.zoo import llm, load_model

# Tiny real-weight versions of the non-Llama families, to check their wrappers numerically.
TINY_OVERRIDES = {
    "opt-1.3b": dict(
        vocab_size=128,
        hidden_size=32,
        word_embed_proj_dim=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
    ),
    "phi-2": dict(
        vocab_size=128,
        hidden_size=40,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    ),
}


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_config_matches_published_config_json(name):
    config = load_model(name).config
    for key, value in HF_CONFIGS[name].items():
        assert config[key] == value, key


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_parameter_count_matches_hand_formula_and_publication(name):
    module = load_model(name).module
    count = sum(p.numel() for p in module.parameters())
    assert count == expected_params(HF_CONFIGS[name])
    published, tolerance, _source = PUBLISHED_PARAMS[name]
    assert abs(count - published) <= tolerance


def test_opt_lm_head_is_tied():
    lm = load_model("opt-1.3b").module.lm
    assert lm.lm_head.weight is lm.model.decoder.embed_tokens.weight


@pytest.mark.parametrize(
    ("name", "phase", "seq_len"),
    [
        ("llama3-8b", "prefill", 64),
        ("yi-6b", "decode", 100),
        ("opt-1.3b", "decode", 32),
        ("phi-2", "prefill", 16),
    ],
)
def test_mac_formula_matches_torch_flop_counter(name, phase, seq_len):
    """On meta tensors torch runs SDPA as explicit bmm over the full Sq x Skv block, and its
    flop counter reports 2 flops per MAC: an independent count of both conventions."""
    loaded = load_model(name, phase=phase, seq_len=seq_len, batch=2)
    expected = expected_linear_macs(loaded.config, seq_len, phase, batch=2)
    with FlopCounterMode(display=False) as counter:
        loaded.module(*loaded.example_inputs)
    flops = counter.get_flop_counts()
    linear_flops = sum(
        v for op, v in flops["Global"].items() if str(op) in ("aten.mm", "aten.addmm")
    )
    assert linear_flops == 2 * expected.linear
    assert flops["Global"].get(torch.ops.aten.bmm, 0) == 2 * expected.attention
    wrapper = type(loaded.module).__name__
    for op_name, macs in expected.per_op.items():
        if not op_name.endswith((".scores", ".context")):
            assert sum(flops[f"{wrapper}.lm.{op_name}"].values()) == 2 * macs, op_name


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_decode_cache_inputs_have_cache_shapes(name):
    loaded = load_model(name, phase="decode", seq_len=8, batch=2)
    c = loaded.config
    assert loaded.input_names[:3] == ("input_ids", "past_key_0", "past_value_0")
    assert len(loaded.input_names) == 1 + 2 * c["num_layers"]
    assert loaded.example_inputs[0].shape == (2, 1)
    for past in loaded.example_inputs[1:]:
        assert past.shape == (2, c["num_kv_heads"], 8, c["head_dim"])


def _reference_logits(lm, ids):
    """Logits of the same weights under transformers' stock "sdpa" attention."""
    stock = copy.deepcopy(lm)
    stock.set_attn_implementation("sdpa")
    with torch.no_grad():
        return stock(input_ids=ids, use_cache=False).logits, stock(
            input_ids=ids[:, :-1], use_cache=True
        )


def _check_decode(prefill, decode, seq_len):
    """Decode with the cache of S tokens == prefill of S+1 tokens, at position S+1."""
    lm = decode.module.lm
    ids = torch.randint(
        0, decode.config["vocab_size"], (2, seq_len + 1), generator=torch.Generator().manual_seed(1)
    )
    full, prompt = _reference_logits(lm, ids)
    past = []
    for layer in prompt.past_key_values.layers:
        past += [layer.keys, layer.values]
    with torch.no_grad():
        stepped = decode.module(ids[:, -1:], *past)
        prefilled = prefill.module(ids)
    assert (stepped[:, 0] - full[:, -1]).abs().max() < 1e-4
    assert (prefilled - full).abs().max() < 1e-4


def test_llama_tiny_decode_matches_full_forward():
    _check_decode(
        load_model("llama-tiny", seq_len=12, batch=2),
        load_model("llama-tiny", phase="decode", seq_len=11, batch=2),
        seq_len=11,
    )


@pytest.mark.parametrize("name", sorted(TINY_OVERRIDES))
def test_other_families_decode_matches_full_forward(name):
    entry, overrides = llm.LLMS[name], TINY_OVERRIDES[name]
    options = dict(batch=2, seed=0, overrides=overrides, shape_only=False)
    _check_decode(
        llm.build_llm(entry, seq_len=10, phase="prefill", **options),
        llm.build_llm(entry, seq_len=9, phase="decode", **options),
        seq_len=9,
    )


def test_llama_tiny_decode_example_is_consistent():
    """The decode example carries the real cache of a seeded prompt, so it is runnable as is."""
    loaded = load_model("llama-tiny", phase="decode")
    with torch.no_grad():
        out = loaded.module(*loaded.example_inputs)
    assert out.shape == (1, 1, 256) and torch.isfinite(out).all()
    assert loaded.example_inputs[1].abs().sum() > 0
