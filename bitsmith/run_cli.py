"""`bitsmith run`: compile MODEL to real code with TVM, run it, check it against
the reference interpreter and print its measured latency.

The target names the device: a `cpu` target (kind cpu) runs on this machine via
LLVM, a `gpu` target (the shipped `cuda`) on the first CUDA GPU. The graph is the
target's canonical one (`compiler.compile_model`), its GEMM weights quantised to
`--format` when one is given (groups of `--group-size` along K, or one scale per
output channel without it, which fits any K). A saved graph is run as saved, on
placeholder inputs. `--kernel` picks the packed GEMMs' kernel path
(`backends/tvm/lower.py`: `kernel_path`); `--tune` measures each layer shape's
rows per task first (`backends/tvm/tuning.py`, cached on disk). Outputs that differ from `interpret`
beyond the tolerance (`graph_runtime` docstring; per kernel path) are an error, like any bad input: one line, exit 1.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bitsmith.cli_options import GroupSize, ModelOrGraphArg, Phase, SeqLen, check_phase, is_saved_graph

if TYPE_CHECKING:
    from bitsmith.ir.graph import Graph

console = Console()

BACKENDS = ("tvm",)
Repeat = Annotated[int, typer.Option("--repeat", help="Timed repeats after one warm-up; the median is reported.")]
Kernel = Annotated[str, typer.Option("--kernel", help=(
    "Packed-GEMM kernel path: auto (int8 VNNI where it holds the weight, else as float), "
    "float (exact: decode-then-dense for >= 16 rows, fused below), vnni, lut (int8 tables) or lut-f32 "
    "(float32 tables, exact)."))]
Tune = Annotated[bool, typer.Option("--tune", help=(
    "Pick each packed layer's rows per parallel task by measuring the candidates on this CPU "
    "(cached in $XDG_CACHE_HOME/bitsmith/tvm_tuning.json); default: a fixed task size."))]


def run_command(
    model: ModelOrGraphArg,
    target: Annotated[str, typer.Option("--target", "-t", help="A cpu or gpu target: 'cpu' (this CPU, LLVM) or 'cuda'.")] = "cpu",
    backend: Annotated[str, typer.Option("--backend", help="The code generator: 'tvm'.")] = "tvm",
    scheme: Annotated[str | None, typer.Option("--format", "-f", help="Quantise GEMM weights to this format (see `bitsmith formats`); default: run them in float.")] = None,
    group_size: GroupSize = None,
    seq_len: SeqLen = None,
    phase: Phase = "prefill",
    repeat: Repeat = 7,
    kernel: Kernel = "auto",
    tune: Tune = False,
) -> None:
    """Build MODEL with TVM for TARGET, check its outputs against the interpreter, and time it."""
    from bitsmith.backends.tvm.errors import BackendError
    from bitsmith.backends.tvm.graph_runtime import GraphRunner
    from bitsmith.comparison import model_and_inputs
    from bitsmith.compiler import compile_model
    from bitsmith.ir.errors import BitsmithError
    from bitsmith.passes.quantize_weights import quantize_weights
    from bitsmith.targets import load_target

    check_phase(phase)
    if backend not in BACKENDS:
        raise BitsmithError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    loaded = load_target(target)
    devices = {"cpu": "cpu", "gpu": "cuda"}
    if loaded.kind not in devices:
        raise BitsmithError(f"target {loaded.name} is an {loaded.kind}: `bitsmith run` needs a cpu or gpu target; "
                            f"`bitsmith compare MODEL --target {loaded.name}` sets it beside the CPU")
    with console.status(f"lowering {model} ..."):
        graph, inputs = model_and_inputs(model, seq_len=seq_len, phase=phase)
    if not is_saved_graph(model):
        graph = compile_model(graph, loaded).graph
    if scheme is not None:
        granularity = "channel" if group_size is None else "group"
        graph = quantize_weights(graph, scheme, group_size=group_size, granularity=granularity)[0]
    tuning = " (measuring each layer shape's task sizes)" if tune else ""
    with console.status(f"building {graph.name} with TVM for {devices[loaded.kind]}{tuning} ..."):
        runner = GraphRunner(graph, devices[loaded.kind], kernel=kernel, tune=tune)
    check = runner.check(inputs)
    if not check.ok:
        raise BackendError(f"{graph.name}: {check.describe()}")
    console.print(f"{graph.name} on {runner.device.name}: {len(runner.lowered.packed)} packed GEMM layers, "
                  f"{_formats(graph)}{_paths(runner)}{_tasks(runner) if tune else ''}")
    console.print(check.describe())
    with console.status("timing ..."):
        timing = runner.measure(inputs, repeat=repeat)
    console.print(f"latency: median {timing.median_s * 1e3:.4g} ms over {len(timing.samples_s)} repeats "
                  f"(after one warm-up; min {min(timing.samples_s) * 1e3:.4g} ms, max {max(timing.samples_s) * 1e3:.4g} ms)")


def _tasks(runner) -> str:
    """The tuned rows per parallel task, e.g. '; rows per task: 64 x 24, 128 x 12'."""
    counts = Counter(layer.schedule.rows for layer in runner.lowered.packed if layer.path != "dense")
    return "; rows per task: " + ", ".join(f"{rows} x {n}" for rows, n in sorted(counts.items())) if counts else ""


def _paths(runner) -> str:
    """The kernel paths of the packed layers, e.g. '; kernels: dense x 36'."""
    counts = Counter(layer.path for layer in runner.lowered.packed)
    return "; kernels: " + ", ".join(f"{path} x {n}" for path, n in counts.items()) if counts else ""


def _formats(graph: Graph) -> str:
    """The weight schemes in the graph, e.g. 'weights: int4_sym x 15'."""
    counts = Counter(c.quant.scheme for c in graph.constants if c.quant is not None)
    if not counts:
        return "float weights"
    return "weights: " + ", ".join(f"{name} x {n}" for name, n in counts.items())
