"""Zoo models go through `torch.export`; meta LLMs do so in little memory.

Only llama2-7b (both phases) and opt-1.3b decode are exported here, to keep the suite
fast; the other shape-only LLMs are built the same way.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from peak_memory import PEAK_RSS_MB

from bitsmith.zoo import load_model

PEAK_RSS_LIMIT_GB = 2.0


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("mlp", "prefill"),
        ("resnet-tiny", "prefill"),
        ("llama-tiny", "prefill"),
        ("llama-tiny", "decode"),
        ("minilm", "prefill"),
    ],
)
def test_real_models_export_and_agree(name, phase):
    loaded = load_model(name, phase=phase)
    exported = torch.export.export(loaded.module, loaded.example_inputs)
    with torch.no_grad():
        expected = loaded.module(*loaded.example_inputs)
        got = exported.module()(*loaded.example_inputs)
    assert torch.allclose(got, expected, atol=1e-5)


def test_meta_llms_export_in_little_memory():
    """Export in a fresh process, so its peak resident size is this work's and nothing else's."""
    script = PEAK_RSS_MB + textwrap.dedent(
        """
        import json, torch
        from bitsmith.zoo import load_model
        placeholders = {}
        runs = [("llama2-7b", "prefill"), ("llama2-7b", "decode"), ("opt-1.3b", "decode")]
        for name, phase in runs:
            loaded = load_model(name, phase=phase)
            ep = torch.export.export(loaded.module, loaded.example_inputs)
            placeholders[f"{name}/{phase}"] = len(ep.graph_signature.user_inputs)
        peak_gb = peak_rss_mb() / 1024
        print(json.dumps({"peak_gb": peak_gb, "user_inputs": placeholders}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["peak_gb"] < PEAK_RSS_LIMIT_GB
    assert report["user_inputs"] == {
        "llama2-7b/prefill": 1,
        "llama2-7b/decode": 1 + 2 * 32,
        "opt-1.3b/decode": 1 + 2 * 24,
    }
