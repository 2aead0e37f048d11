"""A small tuning search for one linear layer: measure every candidate (kernel
path x rows per parallel task) on this host and keep the fastest, cached on disk.

Why a search. The best choice depends on the host and the shape: the float
path's best row tile differs from the integer paths', VNNI beats the table path
at 4+ bits and the two are close at 2 bits, and with 2 cores a task of 64 rows
leaves a 256-row layer only 4 tasks. The candidates are few (about ten), so they
are all measured: no cost model, no sampling (T-MAC's AutoTVM grid search,
FACTS §3.3, at this scale).

Regime. A layer is timed warm (its weights cached after the first call), or,
`from_memory`, with the weights flushed from the caches before each call: a
model whose GEMM weights outgrow the last-level cache streams them from DRAM
every step, where another task size can win (`graph_runtime.GraphRunner`
decides per model). The two regimes are separate cache entries.

Paths differ in numerics: "blocked" computes with the float activations, "vnni"
rounds them to int8 per block of 32 (~0.5% relative output error on Gaussian
inputs) and "lut" its int8 tables (~2%). `tune(..., layouts=("blocked",))`
keeps a layer exact; the default lets speed decide.

Cache. One JSON file, `$XDG_CACHE_HOME/bitsmith/tvm_tuning.json` (XDG_CACHE_HOME
defaults to ~/.cache), maps a key (shape, format, allowed layouts and their
candidate tiles, host CPU and its features, TVM version) to the winner and its
measured seconds. A cache file that cannot be read or parsed is ignored and rewritten (an entry that is not a
well-formed result is measured again); writes go to a temporary file in the same
directory, then `os.replace`, so a crash never leaves half a file; a directory
that cannot be written only loses the caching.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tvm
from tvm.target import codegen

from bitsmith.backends.tvm.kernels import KernelSchedule
from bitsmith.backends.tvm.packing import LAYOUTS, PackedWeight, PackingError, pack_weight
from bitsmith.backends.tvm.runtime import LAYOUT_FEATURES, TABLE_FEATURE, PackedLinear, host_target, supports
from bitsmith.ir.formats.spec import QuantSpec

ROWS = {"blocked": (2, 4, 8, 16), "vnni": (16, 32, 64, 128), "lut": (16, 32, 64, 128)}
CACHE_NAME = "tvm_tuning.json"


@dataclass(frozen=True)
class Tuned:
    """The winning candidate, its median seconds per call, and whether it came
    from the cache (then no kernel was measured)."""

    layout: str
    schedule: KernelSchedule
    seconds: float
    cached: bool


def cache_path() -> Path:
    """Where the tuning cache lives (module docstring)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bitsmith" / CACHE_NAME


def tuning_key(spec: QuantSpec, m: int, layouts: tuple[str, ...], from_memory: bool = False) -> str:
    """What a result depends on: shape, format, the search space (allowed paths
    and their row tiles), where the weights come from, host, TVM."""
    k = spec.shape[spec.axis]
    n = spec.shape[1 - spec.axis]
    wanted = {feature for layout in layouts for feature in LAYOUT_FEATURES[layout]} | {TABLE_FEATURE}
    features = sorted(f for f in wanted if codegen.llvm_cpu_has_features([f], host_target()))
    return json.dumps({"m": m, "n": n, "k": k, "formats": list(spec.formats), "bits": spec.element_bits,
                       "granularity": spec.granularity, "group": spec.group_size,
                       "zero_points": spec.zero_points is not None, "layouts": list(layouts),
                       "candidates": [list(ROWS[layout]) for layout in layouts], "from_memory": from_memory,
                       "cpu": codegen.llvm_get_system_cpu(), "features": features,
                       "tvm": tvm.__version__}, sort_keys=True)


def packings(spec: QuantSpec, layouts: tuple[str, ...] = LAYOUTS) -> dict[str, PackedWeight]:
    """The weight packed in each of `layouts` this host runs and that holds it."""
    out = {}
    for layout in layouts:
        if supports(layout):
            try:
                packed = pack_weight(spec, "tuning", layout=layout)
            except PackingError:
                continue  # e.g. NF4 in an integer layout: that path is not a candidate
            if supports(packed):
                out[layout] = packed
    return out


def candidates(spec: QuantSpec, layouts: tuple[str, ...] = LAYOUTS) -> list[tuple[str, KernelSchedule]]:
    """(layout, schedule) pairs this host can run for this weight."""
    return [(layout, KernelSchedule(rows=rows)) for layout in packings(spec, layouts) for rows in ROWS[layout]]


def tune(spec: QuantSpec, m: int = 1, *, layouts: tuple[str, ...] = LAYOUTS, repeat: int = 5,
         min_repeat_ms: int = 20, cache: Path | None = None, from_memory: bool = False) -> Tuned:
    """The fastest candidate for `spec` at batch `m`: from the cache when this
    key was tuned before, else measured (median of `repeat`) and cached.
    `from_memory` times each call with the weights flushed from the caches
    (`PackedLinear.measure`): the regime of a model too big to stay cached."""
    path = cache or cache_path()
    key = tuning_key(spec, m, layouts, from_memory)
    entries = _read(path)
    if isinstance(hit := entries.get(key), dict) and hit.get("layout") in layouts:
        try:
            return Tuned(hit["layout"], KernelSchedule(rows=int(hit["rows"])), float(hit["seconds"]), cached=True)
        except (KeyError, TypeError, ValueError):
            pass  # a malformed entry is re-measured and overwritten
    x = np.random.default_rng(0).standard_normal((m, spec.shape[spec.axis])).astype(np.float32)
    timings = []
    for layout, packed in packings(spec, layouts).items():
        for rows in ROWS[layout]:
            layer = PackedLinear(packed, m, schedule=KernelSchedule(rows=rows))
            seconds = layer.measure(x, repeat=repeat, min_repeat_ms=min_repeat_ms, from_memory=from_memory).median_s
            timings.append((seconds, layout, layer.schedule))
    if not timings:
        raise PackingError(f"weight of shape {list(spec.shape)}: no kernel path holds {'+'.join(spec.formats)}")
    seconds, layout, schedule = min(timings, key=lambda t: t[0])
    entries[key] = {"layout": layout, "rows": schedule.rows, "seconds": seconds}
    try:
        _write(path, entries)
    except OSError:
        pass  # a read-only cache directory costs a re-tune next time, not the result
    return Tuned(layout, schedule, seconds, cached=False)


def tuned_schedule(spec: QuantSpec, m: int, layout: str, *, from_memory: bool = False) -> KernelSchedule:
    """A layer's schedule on `layout` from the search (cached), as
    `lower.lower_graph(schedule=...)` takes it (bind `from_memory` first). The
    "lut" search times int8 tables; float tables ("lut-f32") take the same task
    size."""
    return tune(spec, m, layouts=(layout,), from_memory=from_memory).schedule


@functools.cache
def last_level_cache_bytes() -> int | None:
    """This CPU's largest cache (Linux sysfs), or None where it cannot be read."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = entry.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        digits = text.rstrip("KM")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=None)


def _read(path: Path) -> dict:
    """The cache's entries; {} when the file is missing, unreadable or not a
    JSON object (it is then rewritten by the next `_write`)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write(path: Path, entries: dict) -> None:
    """Replace the cache file atomically (temporary file + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(entries, file, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
