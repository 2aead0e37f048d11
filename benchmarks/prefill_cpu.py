"""MiniLM prefill (4 sentences x 32 tokens = 128 token rows) on this CPU through
TVM, per GEMM shape and whole model, beside torch fp32 on the same shapes.

Rows: the three distinct linear shapes of MiniLM (q/k/v/attention-output
384x384, FFN up 1536x384, FFN down 384x1536; N x K) at M = 128, each built as a
one-node graph (`graph_runtime.time_layers`), with float weights and with
int4_sym weights (groups of 128) on each kernel path the lowering offers
(`lower.KERNEL_CHOICES`); then the whole model, float and int4_sym (auto path).
torch rows: `torch.nn.functional.linear` on the same shapes, and the zoo's
torch module, fp32, both on all cores (`torch.get_num_threads()`).

Run: `.venv/bin/python benchmarks/prefill_cpu.py [--repeat 7]` (about a minute
on two cores). On a shared machine figures move by tens of percent between runs.
"""

from __future__ import annotations

import os

# Two thread pools share the cores: neither may spin-wait after its work (set
# before torch and tvm load), as in gemv_cpu.py.
os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", "0")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bitsmith.api import load, lower  # noqa: E402
from bitsmith.backends.tvm.graph_runtime import GraphRunner, layer_graph, placeholder_inputs  # noqa: E402
from bitsmith.backends.tvm.lower import KERNEL_CHOICES  # noqa: E402
from bitsmith.ir.ops import Op  # noqa: E402
from bitsmith.passes.quantize_weights import quantize_weights  # noqa: E402

LAYERS = {"384x384 (q/k/v/out)": "encoder.layer.0.attention.self.query",
          "1536x384 (FFN up)": "encoder.layer.0.intermediate.dense",
          "384x1536 (FFN down)": "encoder.layer.0.output.dense"}


def torch_seconds(call, repeat: int) -> float:
    """Median wall seconds of `call` (warm-up first), each sample >= 20 ms of calls."""
    call()
    samples = []
    for _ in range(repeat):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < 0.02 or count == 0:
            call()
            count += 1
        samples.append(elapsed / count)
    return statistics.median(samples)


def tvm_seconds(graph, repeat: int, kernel: str = "auto") -> float:
    runner = GraphRunner(graph, kernel=kernel)
    return runner.measure(placeholder_inputs(graph), repeat=repeat, min_repeat_ms=20).median_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    loaded = load("minilm")
    graph = lower(loaded)
    w4 = quantize_weights(graph, "int4_sym", group_size=128)[0]
    paths = [k for k in KERNEL_CHOICES if k != "auto"]
    table = Table(title=f"MiniLM prefill on this CPU, M = 128 token rows: median ms "
                        f"({torch.get_num_threads()} threads)")
    for column in ("layer / model", "torch fp32", "TVM float", *(f"TVM W4 {p}" for p in paths), "TVM W4 auto"):
        table.add_column(column, justify="left" if column == "layer / model" else "right")
    for label, name in LAYERS.items():
        node = graph.producer(name)
        assert node.op is Op.LINEAR
        x_type = graph.value(node.inputs[0]).type
        x = torch.randn(*x_type.shape)
        weight, bias = (torch.from_numpy(graph.constant(n).data) for n in node.inputs[1:])
        with torch.inference_mode():
            ref = torch_seconds(lambda x=x, weight=weight, bias=bias: torch.nn.functional.linear(x, weight, bias),
                                repeat)
        quantised = layer_graph(w4, w4.producer(name))
        row = [ref, tvm_seconds(layer_graph(graph, node), repeat),
               *(tvm_seconds(quantised, repeat, p) for p in paths), tvm_seconds(quantised, repeat)]
        table.add_row(label, *(f"{s * 1e3:.3f}" for s in row))
    with torch.inference_mode():
        whole = torch_seconds(lambda: loaded.module(*loaded.example_inputs), repeat)
    table.add_section()
    table.add_row("whole model", f"{whole * 1e3:.2f}", f"{tvm_seconds(graph, repeat) * 1e3:.2f}",
                  *("" for _ in paths), f"{tvm_seconds(w4, repeat) * 1e3:.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
