"""Evaluate design points, in whatever process the executor runs a task.

A task is a batch of points plus the work they share: the context (base target,
workloads, accuracy proxy) and each workload's lowered, canonical graph, which
the sweep computes once in the parent (lowering runs torch.export: seconds, where
a point costs milliseconds). Quantising a graph for a (format set, group size,
bit budget) and measuring its accuracy proxy is cached per worker process, so a
worker quantises once per choice however many hardware points use it; so are
the quantised graph's layer problems, grouped into the distinct ones
(`simulator.engines.Layers`), per target formats (`workload_key`), since no
other hardware field changes them.

Per point: the target is the base with the point's overrides; each workload's
quantised graph is costed by the fast engine (`simulator.cost.estimate`, the
default mapping of every GEMM: the tiling search is not run per point; each
distinct problem once, with totals equal to costing every layer) and the
figures add up over workloads. A point that cannot be built or costed (an
invalid target, a tile that does not fit, a group size that does not divide a
weight) becomes a failed outcome carrying the error's one line.

Accuracy proxies (`accuracy:` in the sweep):
- `sqnr`: SQNR in dB of all quantised GEMM weights together. A shape-only model
  has no weights, so it is measured on a reference tensor instead: 256 x 1024
  draws of a seeded Student-t (3 degrees of freedom), heavy-tailed like LLM
  weights; a bit budget there fails (allocation needs weight data).
- `minilm_cosine`: mean cosine between MiniLM's fp32 sentence embeddings and
  those with its weights quantised the same way (bitsmith/accuracy.py).
The worst value over the sweep's models is the point's accuracy.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Graph
from bitsmith.targets import Accelerator, target_from_dict

if TYPE_CHECKING:
    from bitsmith.simulator.engines import Layers

Figures = dict[str, float]
Quantised = tuple[Graph, float, float, int]  # graph, accuracy proxy, average stored bits per weight, weights
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """One evaluated point: figures when `ok`, else the one-line reason."""

    hash: str
    config: dict[str, object]
    ok: bool
    figures: Figures
    error: str | None = None


@dataclass(frozen=True)
class Task:
    """A batch of points and the shared work they need (module docstring)."""

    context: dict[str, object]
    graphs: tuple[Graph, ...]  # per workload, lowered and canonical
    points: tuple[tuple[str, dict[str, object]], ...]  # (hash, config)


def evaluate_batch(task: Task) -> list[Outcome]:
    """Every point of `task`, in order; never raises for a bad point."""
    context_key = _key(task.context)
    if context_key not in _BASES:
        _BASES[context_key] = target_from_dict(task.context["base"], origin="sweep base")
    return [evaluate_point(task, context_key, point_hash, config) for point_hash, config in task.points]


# The base target per context: validated once per worker, not once per point.
_BASES: dict[str, Accelerator] = {}


def evaluate_point(task: Task, context_key: str, point_hash: str, config: dict[str, object]) -> Outcome:
    from bitsmith.dse.space import point_target
    from bitsmith.simulator.area import target_area
    from bitsmith.simulator.cost import estimate
    from bitsmith.simulator.workload import workload_key

    try:
        target = point_target(_BASES[context_key], config)
        latency_s = energy_j = bits = elements = 0.0
        accuracy = math.inf
        for index, graph in enumerate(task.graphs):
            choice = _key({k: config[k] for k in ("formats", "group_size", "bit_budget")})
            quantised, proxy, avg_bits, weights = _cached(
                (context_key, index, choice), lambda: quantise(graph, list(config["formats"]), config["group_size"],
                                                               config["bit_budget"], str(task.context["accuracy"])))
            layers, phase = _cached((context_key, index, choice, workload_key(target)),
                                    lambda: _layers(quantised, target))
            cost = estimate(layers, target, phase=phase)
            latency_s += cost.cycles / target.clock_hz
            energy_j += cost.energy_pj.total * 1e-12
            accuracy = min(accuracy, proxy)
            bits, elements = bits + avg_bits * weights, elements + weights
    except (BitsmithError, ValueError) as err:
        return Outcome(point_hash, config, False, {}, " ".join(str(err).split()))
    figures = {"latency_s": latency_s, "energy_j": energy_j, "area_mm2": target_area(target).breakdown.total,
               "edp_js": energy_j * latency_s, "accuracy": accuracy, "avg_bits": bits / elements}
    return Outcome(point_hash, config, True, figures)


def _key(value: object) -> str:
    from bitsmith.dse.space import config_hash

    return config_hash({}, {"value": value})


# What points share, per worker: quantised graphs per (context, workload,
# quantisation choice), and their layer problems per target formats as well
# (`workload_key`: the hardware axes change none of them). A few per sweep, bounded
# so a long-lived cluster worker does not keep every sweep's.
_CACHE: OrderedDict[tuple[object, ...], object] = OrderedDict()
_CACHE_LIMIT = 128


def _cached(key: tuple[object, ...], make: Callable[[], T]) -> T:
    """`make()` once per key in this worker, a BitsmithError it raises included
    (every point with that choice fails the same way)."""
    if key not in _CACHE:
        try:
            _CACHE[key] = make()
        except BitsmithError as err:
            _CACHE[key] = err
        if len(_CACHE) > _CACHE_LIMIT:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    found = _CACHE[key]
    if isinstance(found, BitsmithError):
        raise found
    return found


def _layers(graph: Graph, target: Accelerator) -> tuple[Layers, str]:
    from bitsmith.simulator.engines import Layers
    from bitsmith.simulator.workload import graph_phase, workload

    return Layers.of(workload(graph, target)), graph_phase(graph)


def quantise(graph: Graph, formats: list[str], group_size: int | None, bit_budget: float | None,
             proxy: str) -> Quantised:
    """`graph`'s GEMM weights in the default format (`formats[0]`) or, given a
    budget, allocated over `formats`; with the accuracy proxy, average stored bits
    and count of weights."""
    quantised, sqnr_db = _apply(graph, formats, group_size, bit_budget)
    if proxy == "minilm_cosine":
        accuracy = minilm_cosine(tuple(formats), group_size, bit_budget)
    elif sqnr_db is not None:
        accuracy = sqnr_db
    else:
        accuracy = reference_sqnr(formats[0], group_size)
    return quantised, accuracy, _average_bits(quantised), _weight_elements(quantised)


def _apply(graph: Graph, formats: list[str], group_size: int | None,
           bit_budget: float | None) -> tuple[Graph, float | None]:
    """The quantised graph and its weights' total SQNR in dB (None: shape-only)."""
    from bitsmith.accuracy import total_sqnr_db
    from bitsmith.passes.allocate_bits import allocate_bits
    from bitsmith.passes.quantize_weights import quantize_weights, weight_operands

    if bit_budget is None:
        granularity = "channel" if group_size is None else "group"
        quantised, reports = quantize_weights(graph, formats[0], group_size=group_size, granularity=granularity)
        if not reports:
            raise BitsmithError(f"{graph.name}: no GEMM weights to quantise")
        shape_only = any(r.sqnr_db is None for r in reports)
        return quantised, None if shape_only else total_sqnr_db(reports, graph)
    quantised, allocation = allocate_bits(graph, formats, bit_budget, group_size=group_size)
    signal = sum(float(np.sum(np.square(c.data.astype(np.float64)))) for c, _, _ in weight_operands(graph))
    return quantised, _db(signal, allocation.error)


def _db(signal: float, noise: float) -> float:
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def _average_bits(graph: Graph) -> float:
    from bitsmith.passes.quantize_weights import weight_operands

    weights = [const for const, _, _ in weight_operands(graph) if const.quant is not None]
    total = sum(const.type.numel for const in weights)
    return sum(const.quant.bits_per_weight() * const.type.numel for const in weights) / total


def _weight_elements(graph: Graph) -> int:
    from bitsmith.passes.quantize_weights import weight_operands

    return sum(const.type.numel for const, _, _ in weight_operands(graph))


@cache
def reference_sqnr(scheme: str, group_size: int | None) -> float:
    """SQNR in dB of `scheme` on the reference tensor (module docstring)."""
    from bitsmith.ir.formats.quantize import quantize

    w = np.random.default_rng(0).standard_t(3, size=(256, 1024)).astype(np.float32)
    options = {"group_size": group_size} if group_size is not None else {"granularity": "channel"}
    spec = quantize(w, scheme, axis=-1, where="the reference tensor", **options)
    err = spec.dequantize() - w.astype(np.float64)
    return _db(float(np.sum(np.square(w.astype(np.float64)))), float(np.sum(err * err)))


@cache
def minilm_cosine(formats: tuple[str, ...], group_size: int | None, bit_budget: float | None) -> float:
    """Mean embedding cosine of MiniLM quantised this way against fp32."""
    from bitsmith.accuracy import embedding_accuracy, minilm_reference

    graph, _, _ = minilm_reference()
    return embedding_accuracy(_apply(graph, list(formats), group_size, bit_budget)[0]).mean
