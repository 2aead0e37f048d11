"""Shape-only LLMs lower to the IR in bounded memory, and the IR's parameter and
MAC counts equal the ones computed by hand from the public configs (llm_counts.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from llm_counts import HF_CONFIGS, expected_linear_macs, expected_params
from peak_memory import PEAK_RSS_MB

from bitsmith.ir.frontend import from_torch
from bitsmith.ir.ops import Op
from bitsmith.ir.stats import graph_stats
from bitsmith.zoo import load_model


def ir_macs_by_layer(graph) -> dict[str, int]:
    return {layer.name: layer.macs for layer in graph_stats(graph).layers}


def hand_macs_by_layer(name: str, seq_len: int, phase: str) -> dict[str, int]:
    """The hand count, with each attention's two matmuls (scores, context) merged
    into one entry named like the IR's attention node (the attention module)."""
    merged: dict[str, int] = {}
    for key, macs in expected_linear_macs(HF_CONFIGS[name], seq_len, phase).per_op.items():
        key = key.removesuffix(".scores").removesuffix(".context")
        merged[key] = merged.get(key, 0) + macs
    return merged


def lower_zoo(name: str, **options):
    loaded = load_model(name, **options)
    return from_torch(loaded.module, loaded.example_inputs, name=name, input_names=loaded.input_names)


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_prefill_parameters_and_macs_match_the_hand_count(name: str) -> None:
    graph = lower_zoo(name, seq_len=8)
    assert graph.shape_only
    stats = graph_stats(graph)
    assert stats.parameters == expected_params(HF_CONFIGS[name])
    assert ir_macs_by_layer(graph) == hand_macs_by_layer(name, 8, "prefill")
    assert Op.MATMUL not in stats.op_counts  # attention stays one op; nothing else multiplies matrices


@pytest.mark.parametrize("name", ["llama3-8b", "opt-1.3b", "phi-2"])
def test_decode_macs_match_the_hand_count(name: str) -> None:
    graph = lower_zoo(name, seq_len=8, phase="decode")
    cfg = HF_CONFIGS[name]
    past = [v for v in graph.inputs if v.name.startswith("past_")]
    assert len(past) == 2 * cfg["num_layers"]
    assert all(v.type.shape[-2:] == (8, cfg["head_dim"]) for v in past)
    assert ir_macs_by_layer(graph) == hand_macs_by_layer(name, 8, "decode")


_LOWER_7B = PEAK_RSS_MB + textwrap.dedent("""
    import json, sys
    from bitsmith.api import lower
    from bitsmith.ir.stats import graph_stats
    phase = sys.argv[1]
    graph = lower("llama2-7b", seq_len=256, phase=phase)
    stats = graph_stats(graph)
    print(json.dumps({
        "peak_rss_mb": peak_rss_mb(),
        "parameters": stats.parameters,
        "macs": {layer.name: layer.macs for layer in stats.layers},
    }))
""")


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_llama2_7b_lowers_in_bounded_memory_with_exact_counts(phase: str) -> None:
    """Published size: Llama-2-7B has 6,738,415,616 parameters (Touvron et al. 2023,
    and the HF checkpoint); 13 GB of fp16 weights must never be materialised."""
    done = subprocess.run([sys.executable, "-c", _LOWER_7B, phase], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["peak_rss_mb"] < 2048
    assert report["parameters"] == 6_738_415_616 == expected_params(HF_CONFIGS["llama2-7b"])
    assert report["macs"] == hand_macs_by_layer("llama2-7b", 256, phase)
