"""What the integer kernel paths cost in accuracy: per linear layer of MiniLM, the
relative output error ||y_path - y_float|| / ||y_float|| of the "vnni" path (int8
activations per block of 32) and the "lut" path (int8 tables of 4 activations),
against the float path on the same quantised weight, on real inputs and on
Gaussian ones.

Real inputs: every nn.Linear of all-MiniLM-L6-v2 (36 layers: q, k, v, attention
output, FFN up, FFN down) is hooked while the model embeds the zoo's 16
ACCURACY_SENTENCES; 64 non-padding token rows per layer are kept. The FFN-down
inputs (after GELU) are heavy-tailed, the case per-block scales exist for.
Gaussian: the same weights, x ~ N(0, 1). Weights: int4_sym and int2_sym, groups
of 128. The float path computes x . dequant(W)^T exactly (to float32 rounding),
so the figures isolate the activation-side rounding of each path; the last
column, the weight quantisation's own error (float path vs fp32 weights), is
the scale to read them against.

Run: `.venv/bin/python benchmarks/integer_path_accuracy.py` (about a minute).
"""

from __future__ import annotations

import statistics

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from bitsmith.backends.tvm.packing import pack_weight
from bitsmith.backends.tvm.runtime import PackedLinear
from bitsmith.ir.formats.quantize import quantize
from bitsmith.zoo.minilm import ACCURACY_SENTENCES, build_minilm, tokenize

ROWS = 64
SCHEMES = ("int4_sym", "int2_sym")
PATHS = ("vnni", "lut")


def minilm_linear_inputs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(layer name, weight [N, K], ROWS real input rows [ROWS, K]) per nn.Linear."""
    module = build_minilm(seq_len=32, batch=None).module
    input_ids, mask = tokenize(list(ACCURACY_SENTENCES), 32)
    captured: dict[str, torch.Tensor] = {}

    def keep_input(name: str):
        def hook(_module, args, _output) -> None:  # returning None keeps the output
            captured[name] = args[0]
        return hook

    hooks = [layer.register_forward_hook(keep_input(name))
             for name, layer in module.named_modules() if isinstance(layer, torch.nn.Linear)]
    with torch.inference_mode():
        module(input_ids, mask)
    for hook in hooks:
        hook.remove()
    layers = dict(module.named_modules())
    keep = mask.reshape(-1).bool()
    out = []
    for name, x in captured.items():
        tokens = x.reshape(-1, x.shape[-1])[keep][:ROWS].numpy().astype(np.float32)
        out.append((name, layers[name].weight.detach().numpy().astype(np.float32), tokens))
    return out


def relative_error(spec, x: np.ndarray, layout: str) -> float:
    exact = PackedLinear(pack_weight(spec, "w"), x.shape[0])(x)
    got = PackedLinear(pack_weight(spec, "w", layout=layout), x.shape[0])(x)
    return float(np.linalg.norm(got - exact) / np.linalg.norm(exact))


def main() -> None:
    layers = minilm_linear_inputs()
    rng = np.random.default_rng(0)
    table = Table(title=f"Relative output error vs the float path, {len(layers)} MiniLM linear layers, "
                        f"{ROWS} token rows each (median / max over layers)")
    for column in ("weights", "path", "real inputs median", "real max", "worst layer", "Gaussian median",
                   "weight quantisation (real, median)"):
        table.add_column(column, justify="left" if column in ("weights", "path", "worst layer") else "right")
    for scheme in SCHEMES:
        specs = [(name, quantize(w, scheme, group_size=128), x) for name, w, x in layers]
        weight_error = statistics.median(
            float(np.linalg.norm(x @ (spec.dequantize() - w).T) / np.linalg.norm(x @ w.T))
            for (_, spec, x), (_, w, _) in zip(specs, layers, strict=True))
        for layout in PATHS:
            real = [(relative_error(spec, x, layout), name) for name, spec, x in specs]
            gauss = [relative_error(spec, rng.standard_normal(x.shape).astype(np.float32), layout)
                     for _, spec, x in specs]
            worst = max(real)
            table.add_row(scheme, layout, f"{100 * statistics.median(e for e, _ in real):.2f}%",
                          f"{100 * worst[0]:.2f}%", worst[1], f"{100 * statistics.median(gauss):.2f}%",
                          f"{100 * weight_error:.1f}%")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
