"""Build a lowered graph with TVM, run it, check it against `ir.interpret`, and
time it: the whole model, or each GEMM layer alone.

Devices: "cpu" is LLVM for this machine (`runtime.host_target`); "cuda" is the
first GPU, with dlight's default GPU schedules for the Relax ops and `gpu.py`'s
kernel for packed weights. Asking for CUDA without a GPU is a one-line
`BackendError`.

Checking. The error of an output is max|tvm - interpret| / max|interpret|, the
largest output of each graph taken as its scale; the check passes when every
output's error is within the tolerance. Both sides compute with the same weights
(the kernels decode the exact codes; the interpreter reads `spec.dequantize()`
rounded to float32), so what differs is float32 arithmetic order and, where the
graph quantises activations, what that order does to a rounding:

    graph                                   tolerance  why
    weight-only formats (int8, int4_sym,    1e-4       float32 sums in a different
      int2_sym, ternary, bitmod4, fp,                  order (per-group partial sums,
      float weights)                                   TVM's reductions), observed
                                                       <= 3e-6 on mlp/llama-tiny/MiniLM
    + fake_quant on activations (integer    2e-2       a value within float32 noise of
      datapaths: int8_systolic, ...)                   a rounding midpoint may land one
                                                       grid step apart (1/127 of a row's
                                                       range at int8) and propagate
    any packed GEMM on the "vnni" path      5e-2       activations rounded to int8 per
                                                       block of 32: per layer ~0.6%
                                                       median, 1.2% max of ||y||
                                                       (benchmarks/integer_path_accuracy.py,
                                                       real MiniLM inputs); whole MiniLM
                                                       W4 observed 2.5e-2
    any packed GEMM on the "lut" path       1e-1       int8 tables of 4 activations:
                                                       per layer ~2-3% of ||y||; whole
                                                       MiniLM W4 observed 6.4e-2

The bound is relative to the largest output, not elementwise: an output near
zero has no meaningful relative error, and the kernels' error is a fraction of
the row's scale (an activation block's max), so the scale of the whole output is
the honest denominator. The integer paths' bounds are 1.6-2x the whole-model
figures observed (2.5x the worst per-layer one for VNNI): errors of consecutive
layers add (six encoder layers, each with two GEMMs in series), and a max over
all elements reads higher than the norm ratio the benchmark reports. They are
loose enough to pass an honest kernel on other inputs and tight enough to fail
a wrong one (a misplaced nibble or scale errs by tens of per cent or more).

Timing is TVM's time evaluator on a closure with the arguments bound once (so the
copies are not timed): one warm-up call, then `repeat` measurements of at least
`min_repeat_ms` each, reported as their median (`runtime.Timing`). Per-layer
timing builds each GEMM node as a one-node graph; equal layers (same module up to
parameter values) share one build, since weights are parameters.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
import tvm
import tvm_ffi
from tvm import relax

from bitsmith.backends.tvm.cpu_schedule import cpu_pipeline
from bitsmith.backends.tvm.errors import BackendError
from bitsmith.backends.tvm.lower import CPU_PATHS, KernelBuilder, LoweredGraph, cpu_kernel, default_schedule, lower_graph
from bitsmith.backends.tvm.memory import device_tensors
from bitsmith.backends.tvm.runtime import Timing, host_target
from bitsmith.backends.tvm.tuning import last_level_cache_bytes, tuned_schedule
from bitsmith.ir.graph import Graph, Node, Value
from bitsmith.ir.interpret import interpret
from bitsmith.ir.stats import constant_bytes
from bitsmith.ir.ops import GEMM_LIKE, Op

DEVICES = ("cpu", "cuda")
WEIGHT_ONLY_TOLERANCE = 1e-4
FAKE_QUANT_TOLERANCE = 2e-2
PATH_TOLERANCE = {"vnni": 5e-2, "lut": 1e-1}  # integer kernel paths (module docstring)


@dataclass(frozen=True)
class Device:
    """Where a graph runs: the TVM target, device, packed-kernel builder, and
    the packed-GEMM paths it builds (`lower.kernel_path`)."""

    name: str
    target: tvm.target.Target
    kernel: KernelBuilder
    paths: tuple[str, ...]

    @property
    def tvm_device(self) -> tvm.runtime.Device:
        return tvm.cpu() if self.name == "cpu" else tvm.cuda()


def device(name: str) -> Device:
    """The device called `name` ("cpu" or "cuda"); CUDA needs a GPU here."""
    if name == "cpu":
        return Device("cpu", host_target(), cpu_kernel, CPU_PATHS)
    if name == "cuda":
        from bitsmith.backends.tvm.gpu import GPU_PATHS, cuda_target, gpu_kernel

        if not tvm.cuda().exist:
            raise BackendError("CUDA requested but no CUDA GPU is visible to TVM on this machine")
        return Device("cuda", cuda_target(), gpu_kernel, GPU_PATHS)
    raise BackendError(f"unknown TVM device {name!r}: expected one of {', '.join(DEVICES)}")


@dataclass(frozen=True)
class Check:
    """Outputs against `interpret`: the largest relative error and the bound."""

    max_rel_err: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_rel_err <= self.tolerance

    def describe(self) -> str:
        verdict = "match" if self.ok else "DIFFER from"
        return f"outputs {verdict} interpret: max rel err {self.max_rel_err:.2e} (tolerance {self.tolerance:.0e})"


def tolerance(graph: Graph, paths: Iterable[str] = ()) -> float:
    """The check's bound for `graph` with packed GEMMs on `paths` (module
    docstring table): the loosest that applies."""
    quantises = any(node.op is Op.FAKE_QUANT for node in graph.nodes)
    bounds = [FAKE_QUANT_TOLERANCE if quantises else WEIGHT_ONLY_TOLERANCE]
    return max(bounds + [PATH_TOLERANCE[p] for p in paths if p in PATH_TOLERANCE])


def relative_error(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> float:
    """max over outputs of max|got - expected| / max|expected| (NaNs must agree)."""
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        g, e = np.asarray(g, np.float64), np.asarray(e, np.float64)
        if not np.array_equal(np.isnan(g), np.isnan(e)):
            return float("inf")
        finite = ~np.isnan(e)
        scale = np.max(np.abs(e[finite]), initial=0.0) or 1.0
        worst = max(worst, float(np.max(np.abs(g[finite] - e[finite]), initial=0.0)) / scale)
    return worst


class GraphRunner:
    """A graph built for one device, with its parameters copied there once;
    `kernel` is the packed-GEMM path choice (`lower.kernel_path`)."""

    def __init__(self, graph: Graph, device_name: str = "cpu", *, kernel: str = "auto", tune: bool = False,
                 from_memory: bool | None = None) -> None:
        """`tune`: each packed layer's task size from the search (CPU only),
        timed with the weights flushed from the caches when `from_memory`
        (default: when the graph's weights exceed the last-level cache)."""
        self.device = device(device_name)
        schedule = default_schedule
        if tune and self.device.name == "cpu":
            flushed = weights_exceed_cache(graph) if from_memory is None else from_memory
            schedule = partial(tuned_schedule, from_memory=flushed)
        self.lowered: LoweredGraph = lower_graph(graph, self.device.kernel, choice=kernel, paths=self.device.paths,
                                                 schedule=schedule)
        self.vm = relax.VirtualMachine(build_module(self.lowered.module, self.device.target), self.device.tvm_device)
        self._params = device_tensors(self.lowered.param_arrays, self.device.tvm_device)

    @property
    def graph(self) -> Graph:
        return self.lowered.graph

    def __call__(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
        out = self.vm["main"](*self._arguments(inputs))
        outs = [out] if isinstance(out, tvm.runtime.Tensor) else list(out)
        return [o.numpy() for o in outs]

    def check(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> Check:
        """Run on `inputs` and compare with `interpret` (module docstring)."""
        paths = {layer.path for layer in self.lowered.packed}
        return Check(relative_error(self(inputs), interpret(self.graph, inputs)), tolerance(self.graph, paths))

    def measure(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], *, repeat: int = 7,
                min_repeat_ms: int = 50) -> Timing:
        """Median seconds per call of the whole graph (warm-up first)."""
        self.vm.save_function("main", "main_timed", *self._arguments(inputs), include_return=False)
        evaluator = self.vm.time_evaluator("main_timed", self.device.tvm_device, number=1, repeat=repeat,
                                           min_repeat_ms=min_repeat_ms)
        samples = tuple(evaluator().results)
        return Timing(statistics.median(samples), samples)

    def _arguments(self, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> list[tvm.runtime.Tensor]:
        given = self.lowered.arguments(inputs)[: len(self.graph.inputs)]
        return [self._tensor(a) for a in given] + self._params

    def _tensor(self, array: np.ndarray) -> tvm.runtime.Tensor:
        return tvm.runtime.tensor(np.ascontiguousarray(array), self.device.tvm_device)


def placeholder_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for a graph that came without any: standard normal floats, and ones
    for integers and booleans (a valid token id and an all-true mask, so no
    attention row is fully masked)."""
    rng = np.random.default_rng(seed)
    out = {}
    for value in graph.inputs:
        dtype = value.type.dtype.to_numpy()
        if value.type.dtype.is_float:
            out[value.name] = rng.standard_normal(value.type.shape).astype(dtype)
        else:
            out[value.name] = np.ones(value.type.shape, dtype)
    return out


def layer_graph(graph: Graph, node: Node) -> Graph:
    """`node` alone as a graph: its computed operands become inputs, its constant
    operands stay constants (so a packed weight stays packed)."""
    names = list(dict.fromkeys(node.inputs))
    constants = [graph.constant(n) for n in names if graph.constant(n) is not None]
    inputs = [Value(n, graph.value(n).type) for n in names if graph.constant(n) is None]
    return Graph(f"{graph.name}.{node.name}", tuple(inputs), tuple(constants), (node,), (node.name,))


def time_layers(graph: Graph, device_name: str = "cpu", *, repeat: int = 7, min_repeat_ms: int = 20,
                kernel: str = "auto", tune: bool = False) -> dict[str, Timing]:
    """Median seconds of every GEMM-like node run alone, by node name, on
    placeholder inputs (the kernels have no data-dependent paths)."""
    out = {}
    from_memory = tune and weights_exceed_cache(graph)  # the whole model's, not one layer's
    for node in graph.nodes:
        if node.op in GEMM_LIKE:
            layer = layer_graph(graph, node)
            runner = GraphRunner(layer, device_name, kernel=kernel, tune=tune, from_memory=from_memory)
            out[node.name] = runner.measure(placeholder_inputs(layer), repeat=repeat, min_repeat_ms=min_repeat_ms)
    return out


def weights_exceed_cache(graph: Graph) -> bool:
    """Whether the GEMM weights, which every run reads whole, outgrow this CPU's
    last-level cache, so each run streams them from memory (an LLM's decode
    step); embedding tables, of which a run reads a few rows, do not count."""
    cache = last_level_cache_bytes()
    streamed = {node.inputs[1] for node in graph.nodes if node.op in GEMM_LIKE and len(node.inputs) > 1}
    weights = sum(constant_bytes(c) for c in graph.constants if c.name in streamed)
    return cache is not None and weights > cache


def build_module(module: tvm.IRModule, target: tvm.target.Target) -> tvm.runtime.Executable:
    """The module compiled with the target's Relax pipeline (for the CPU
    `cpu_schedule.cpu_pipeline`, for CUDA TVM's default, which schedules the
    Relax ops with dlight), shared by structurally equal modules
    (layers of equal shape: their weights are parameters, so their modules are
    equal). Compiling needs no device; running does."""
    return _build_cached(_StructuralKey(module), str(target))


class _StructuralKey:
    """An IRModule hashed and compared by structure, for the build cache."""

    def __init__(self, module: tvm.IRModule) -> None:
        self.module = module
        self._hash = tvm_ffi.structural_hash(module)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _StructuralKey) and tvm_ffi.structural_equal(self.module, other.module)


@cache
def _build_cached(key: _StructuralKey, target_json: str) -> tvm.runtime.Executable:
    target = tvm.target.Target(target_json)
    pipeline = cpu_pipeline(target) if target.kind.name == "llvm" else relax.get_default_pipeline(target)
    return tvm.compile(key.module, target=target, relax_pipeline=pipeline)
