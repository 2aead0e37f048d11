"""Compile, run and time packed linear kernels on this CPU.

`host_target()` is LLVM for this machine's CPU (LLVM's own detection, so AVX-512
and VNNI are used where present); `supports` says whether a packed layout's
kernel runs on a target: the integer layouts call AVX-512 VNNI (and VBMI)
instructions by name, so a CPU without them is refused up front rather than
failing in LLVM. Compiled kernels are cached per (shape, schedule, target) for
the life of the process: a model with repeated layer shapes, or a test session,
compiles each kernel once. `measure` is TVM's time
evaluator: one warm-up call, then `repeat` timings of at least `min_repeat_ms`
each; the median is reported because other processes on a shared machine make
the mean and the minimum unstable.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import tvm
from tvm.target import codegen

from bitsmith.backends.tvm.kernels import KernelSchedule, KernelShape, linear_kernel
from bitsmith.backends.tvm.memory import device_tensors
from bitsmith.backends.tvm.packing import PackedWeight


def host_target() -> tvm.target.Target:
    """LLVM for the host CPU, e.g. {"kind": "llvm", "mcpu": "znver4"}."""
    return tvm.target.Target({"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu()})


LAYOUT_FEATURES = {"blocked": (), "vnni": ("avx512bw", "avx512vnni"),
                   "lut": ("avx512bw", "avx512vnni", "avx512vbmi")}
TABLE_FEATURE = "avx512vbmi"  # vpermb, for "vnni" weights with integer-valued tables


FLOAT_TABLE_FEATURES = ("avx512f",)  # "lut" with float tables: vpermps only


def layout_features(layout: str, tables: str = "int8") -> tuple[str, ...]:
    """The CPU features a layout's kernel needs (for "lut", with `tables` entries)."""
    return FLOAT_TABLE_FEATURES if layout == "lut" and tables == "float32" else LAYOUT_FEATURES[layout]


def required_features(packed: PackedWeight, tables: str = "int8") -> tuple[str, ...]:
    """The CPU features the kernel for `packed` (its "lut" tables of `tables`)
    emits instructions of."""
    table = packed.layout == "vnni" and packed.integer_table is not None
    return layout_features(packed.layout, tables) + ((TABLE_FEATURE,) if table else ())


def supports(layout: str | PackedWeight, target: tvm.target.Target | None = None, *, tables: str = "int8") -> bool:
    """Whether a layout's kernel (or the kernel for one packed weight) runs on
    `target` (default: this host)."""
    features = layout_features(layout, tables) if isinstance(layout, str) else required_features(layout, tables)
    return codegen.llvm_cpu_has_features(list(features), target or host_target())


@cache
def compile_kernel(shape: KernelShape, schedule: KernelSchedule, target_json: str) -> tvm.runtime.Module:
    """The compiled kernel (cached; the target is its JSON text so it hashes)."""
    executable = tvm.compile(linear_kernel(shape, schedule), target=tvm.target.Target(target_json))
    return executable.jit()


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median of `repeat` measurements, and all of them."""

    median_s: float
    samples_s: tuple[float, ...]


class PackedLinear:
    """One linear layer, y = x . W^T + bias, as a compiled kernel bound to its
    packed weight (copied to the device once, on huge pages: `memory`)."""

    def __init__(self, packed: PackedWeight, m: int, *, bias: np.ndarray | None = None,
                 schedule: KernelSchedule = KernelSchedule(), target: tvm.target.Target | None = None,
                 tables: str = "int8") -> None:
        self.packed = packed
        self.shape = KernelShape.of(packed, m, bias=bias is not None, tables=tables)
        self.schedule = schedule
        self.device = tvm.cpu()
        target = target or host_target()
        if not supports(packed, target, tables=tables):
            raise ValueError(f"{packed.name}: the {packed.layout} layout's kernel needs "
                             f"{', '.join(required_features(packed, tables))}, which {target} lacks")
        self.module = compile_kernel(self.shape, schedule, str(target))
        arrays = list(packed.arrays().values()) + ([] if bias is None else [np.asarray(bias, np.float32)])
        self._weights = device_tensors(arrays, self.device)
        self._out = tvm.runtime.empty((m, packed.n), "float32", self.device)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.bind(x)()
        return self._out.numpy()

    def bind(self, x: np.ndarray) -> Callable[[], None]:
        """A call of the kernel on `x` with the arguments made once: what a timing
        loop calls, so it times the kernel and not the argument copies."""
        function, args = self.module["main"], self._args(x)
        return lambda: function(*args)

    def measure(self, x: np.ndarray, *, repeat: int = 7, min_repeat_ms: int = 50,
                from_memory: bool = False) -> Timing:
        """Median seconds per call (warm-up first, then `repeat` timings).
        `from_memory` flushes the weights (every argument but x) out of the CPU
        caches before each call, as a decode step that streams a model larger
        than the last-level cache finds them; each timing is then one call."""
        regime = (dict(f_preproc="cache_flush_cpu_non_first_arg") if from_memory
                  else dict(min_repeat_ms=min_repeat_ms))
        evaluator = self.module.time_evaluator("main", self.device, number=1, repeat=repeat, **regime)
        samples = tuple(evaluator(*self._args(x)).results)
        return Timing(statistics.median(samples), samples)

    def _args(self, x: np.ndarray) -> list:
        expected = (self.shape.m, self.shape.k)
        if x.shape != expected:
            raise ValueError(f"{self.packed.name}: input shape {list(x.shape)}, expected {list(expected)}")
        return [tvm.runtime.tensor(np.ascontiguousarray(x, np.float32), self.device), *self._weights, self._out]
