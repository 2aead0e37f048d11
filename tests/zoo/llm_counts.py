"""Hand-computed parameter and MAC counts for the zoo's decoder LLMs.

These formulas are written from the architectures, not from the zoo's code, so they are
an independent reference for it (and for MAC counts of lowered IR graphs). `cfg` is a
mapping with the zoo's architecture keys (`LoadedModel.config` of a decoder LLM, or an
entry of HF_CONFIGS below):

    arch                "llama" | "opt" | "phi"
    vocab_size V, hidden_size h, num_layers L, num_heads H, num_kv_heads KV,
    head_dim d, intermediate_size F, max_positions P, tie_word_embeddings

Architectures (per layer):
    llama  RMSNorm, q/k/v/o projections without bias (k, v have KV*d outputs: grouped-
           query attention), RMSNorm, SwiGLU MLP gate/up (h->F) and down (F->h) without
           bias; final RMSNorm; lm_head without bias. RMSNorm has a weight only.
    opt    LayerNorm, q/k/v/out_proj with bias, LayerNorm, fc1 (h->F), fc2 (F->h) with
           bias; learned positional embeddings with P+2 rows (OPT offsets positions by
           2); final LayerNorm; lm_head tied to the token embedding.
    phi    one LayerNorm feeding attention and MLP in parallel; q/k/v/dense with bias;
           fc1, fc2 with bias; final LayerNorm; lm_head with bias (untied).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Architecture numbers written out from each model's public config.json (URLs beside
# them), in the zoo's key names. The tests check the zoo's configs against these.
HF_CONFIGS: dict[str, dict[str, Any]] = {
    # https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
    "llama2-7b": dict(
        arch="llama",
        vocab_size=32000,
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=32,
        head_dim=128,
        intermediate_size=11008,
        max_positions=4096,
        tie_word_embeddings=False,
        rope_theta=10000.0,
    ),
    # https://huggingface.co/meta-llama/Llama-2-13b-hf/blob/main/config.json
    "llama2-13b": dict(
        arch="llama",
        vocab_size=32000,
        hidden_size=5120,
        num_layers=40,
        num_heads=40,
        num_kv_heads=40,
        head_dim=128,
        intermediate_size=13824,
        max_positions=4096,
        tie_word_embeddings=False,
        rope_theta=10000.0,
    ),
    # https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json
    "llama3-8b": dict(
        arch="llama",
        vocab_size=128256,
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        head_dim=128,
        intermediate_size=14336,
        max_positions=8192,
        tie_word_embeddings=False,
        rope_theta=500000.0,
    ),
    # https://huggingface.co/facebook/opt-1.3b/blob/main/config.json (ffn_dim -> intermediate_size)
    "opt-1.3b": dict(
        arch="opt",
        vocab_size=50272,
        hidden_size=2048,
        num_layers=24,
        num_heads=32,
        num_kv_heads=32,
        head_dim=64,
        intermediate_size=8192,
        max_positions=2048,
        tie_word_embeddings=True,
    ),
    # https://huggingface.co/microsoft/phi-2/blob/main/config.json
    "phi-2": dict(
        arch="phi",
        vocab_size=51200,
        hidden_size=2560,
        num_layers=32,
        num_heads=32,
        num_kv_heads=32,
        head_dim=80,
        intermediate_size=10240,
        max_positions=2048,
        tie_word_embeddings=False,
        rope_theta=10000.0,
        partial_rotary_factor=0.4,
    ),
    # https://huggingface.co/01-ai/Yi-6B/blob/main/config.json
    "yi-6b": dict(
        arch="llama",
        vocab_size=64000,
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=4,
        head_dim=128,
        intermediate_size=11008,
        max_positions=4096,
        tie_word_embeddings=False,
        rope_theta=5000000.0,
    ),
}

# Published parameter counts: (count, tolerance, source). Llama-2 counts are exact; the
# others are the rounded "Model size" on the model page (computed by Hugging Face from the
# safetensors header), so the tolerance is half a unit of the last digit shown.
PUBLISHED_PARAMS: dict[str, tuple[float, float, str]] = {
    "llama2-7b": (6_738_415_616, 0, "huggingface.co/meta-llama/Llama-2-7b-hf, safetensors"),
    "llama2-13b": (13_015_864_320, 0, "huggingface.co/meta-llama/Llama-2-13b-hf, safetensors"),
    "llama3-8b": (8.03e9, 0.005e9, "huggingface.co/meta-llama/Meta-Llama-3-8B: 8.03B params"),
    "opt-1.3b": (1.3e9, 0.05e9, "Zhang et al. 2022, OPT, Table 1: 1.3B"),
    "phi-2": (2.78e9, 0.005e9, "huggingface.co/microsoft/phi-2: 2.78B params"),
    "yi-6b": (6.06e9, 0.005e9, "huggingface.co/01-ai/Yi-6B: 6.06B params"),
}


def expected_params(cfg: Mapping[str, Any]) -> int:
    """Parameter count, counting a tied lm_head once (as `module.parameters()` does)."""
    V, h, L, H, KV, d, F = (
        cfg[k]
        for k in (
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "head_dim",
            "intermediate_size",
        )
    )
    arch = cfg["arch"]
    q_out, kv_out = H * d, KV * d
    if arch == "llama":
        attn = h * q_out + 2 * h * kv_out + q_out * h
        mlp = 3 * h * F
        norms = 2 * h
        total = V * h + L * (attn + mlp + norms) + h
        lm_head_bias = 0
    elif arch == "opt":
        attn = (h * q_out + q_out) + 2 * (h * kv_out + kv_out) + (q_out * h + h)
        mlp = (h * F + F) + (F * h + h)
        norms = 2 * (2 * h)
        positions = (cfg["max_positions"] + 2) * h
        total = V * h + positions + L * (attn + mlp + norms) + 2 * h
        lm_head_bias = 0
    elif arch == "phi":
        attn = (h * q_out + q_out) + 2 * (h * kv_out + kv_out) + (q_out * h + h)
        mlp = (h * F + F) + (F * h + h)
        norms = 2 * h
        total = V * h + L * (attn + mlp + norms) + 2 * h
        lm_head_bias = V
    else:
        raise ValueError(f"unknown arch {arch!r}")
    if not cfg["tie_word_embeddings"]:
        total += h * V + lm_head_bias
    return total


@dataclass(frozen=True)
class MacCounts:
    """Multiply-accumulates per GEMM-like op, keyed by name (see `expected_linear_macs`)."""

    per_op: dict[str, int]

    @property
    def linear(self) -> int:
        return sum(v for k, v in self.per_op.items() if not k.endswith((".scores", ".context")))

    @property
    def attention(self) -> int:
        return sum(v for k, v in self.per_op.items() if k.endswith((".scores", ".context")))

    @property
    def total(self) -> int:
        return self.linear + self.attention


def expected_linear_macs(
    cfg: Mapping[str, Any], seq_len: int, phase: str, batch: int = 1
) -> MacCounts:
    """MACs of every linear layer and attention matmul of one forward pass.

    Conventions:
    - prefill: T = batch*seq_len tokens pass every linear, the lm_head included (logits
      for all S positions); attention has Sq = Skv = seq_len.
    - decode: one new token per sequence, T = batch; the KV cache holds seq_len tokens,
      so Sq = 1 and Skv = seq_len + 1.
    - a linear with n_in inputs and n_out outputs costs T*n_in*n_out MACs; biases,
      norms, activations, rotary embedding and softmax are not MACs.
    - attention per layer: `<layer>.self_attn.scores` (Q K^T) and `.context` (P V), each
      batch*H*Sq*Skv*d MACs over all H query heads (grouped-query attention shares K/V
      but does not reduce MACs) and the full Sq x Skv block: no causal skipping.
    - keys are the transformers module paths inside the *ForCausalLM (e.g.
      `model.layers.0.self_attn.q_proj`, `model.decoder.layers.0.fc1`, `lm_head`); the
      zoo's wrapper module adds the prefix `lm.`.
    """
    if phase == "prefill":
        tokens, sq, skv = batch * seq_len, seq_len, seq_len
    elif phase == "decode":
        tokens, sq, skv = batch, 1, seq_len + 1
    else:
        raise ValueError(f"unknown phase {phase!r}")
    V, h, L, H, KV, d, F = (
        cfg[k]
        for k in (
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "head_dim",
            "intermediate_size",
        )
    )
    arch = cfg["arch"]
    if arch == "llama":
        prefix = "model.layers"
        shapes = {
            "self_attn.q_proj": (h, H * d),
            "self_attn.k_proj": (h, KV * d),
            "self_attn.v_proj": (h, KV * d),
            "self_attn.o_proj": (H * d, h),
            "mlp.gate_proj": (h, F),
            "mlp.up_proj": (h, F),
            "mlp.down_proj": (F, h),
        }
    elif arch == "opt":
        prefix = "model.decoder.layers"
        shapes = {
            "self_attn.q_proj": (h, H * d),
            "self_attn.k_proj": (h, KV * d),
            "self_attn.v_proj": (h, KV * d),
            "self_attn.out_proj": (H * d, h),
            "fc1": (h, F),
            "fc2": (F, h),
        }
    elif arch == "phi":
        prefix = "model.layers"
        shapes = {
            "self_attn.q_proj": (h, H * d),
            "self_attn.k_proj": (h, KV * d),
            "self_attn.v_proj": (h, KV * d),
            "self_attn.dense": (H * d, h),
            "mlp.fc1": (h, F),
            "mlp.fc2": (F, h),
        }
    else:
        raise ValueError(f"unknown arch {arch!r}")
    per_op: dict[str, int] = {}
    attention = batch * H * sq * skv * d
    for layer in range(L):
        for name, (n_in, n_out) in shapes.items():
            per_op[f"{prefix}.{layer}.{name}"] = tokens * n_in * n_out
        per_op[f"{prefix}.{layer}.self_attn.scores"] = attention
        per_op[f"{prefix}.{layer}.self_attn.context"] = attention
    per_op["lm_head"] = tokens * h * V
    return MacCounts(per_op)
