"""`bitsmith.compile`: a model and a target in, an annotated graph out.

The model is lowered (a zoo name, `file.py:factory`, a torch module with example
inputs, or an already lowered `Graph`), then the target's pipeline runs on it
(`passes/pipelines.py`: quantise every GEMM weight in the target's default format,
then tile every GEMM), or a pipeline the caller gives. A budget replaces the
uniform quantisation by `allocate_bits` over the target's weight formats: average
bits per weight (`"3.5bits"`), model bytes (`"12MB"`), latency (`"2.5ms"`) or
energy (`"2.5mJ"`), the last two simulated; errors are the plain squared weight
error, or weighted by a sensitivity calibrated on the example inputs (a zoo
model's own, unless others are given): `calibrate="activation"`, E[x²] of each
layer's inputs, or `calibrate="fisher"`, the model-output Fisher diagonal
(`passes/fisher.py`, torch autograd). Calibration is opt-in: the activation proxy
measured worse than plain error on MiniLM, and Fisher costs a torch forward and
backward passes (README, "The calibrated objective"). The example inputs reach
every pipeline, so a YAML one may calibrate too. The result, a `CompiledModel`,
simulates, prints a per-layer summary, and saves as the graph's JSON + .npz plus the target beside it
(`<stem>.target.yaml`), so it reloads and simulates again without torch.

`prepare_weights` gives an unquantised graph the weights a target takes, for
`bitsmith simulate` and other callers that start from a float model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Graph
from bitsmith.passes.allocate_bits import BitAllocation, Budget
from bitsmith.passes.calibrate import Sensitivity
from bitsmith.passes.pipeline import PassRecord, Pipeline
from bitsmith.passes.pipelines import BUDGET_PASSES, DEFAULT_PASSES
from bitsmith.passes.base import PassError
from bitsmith.passes.quantize_weights import store_weights, weight_operands
from bitsmith.simulator.errors import SimulationError
from bitsmith.simulator.report import SimReport
from bitsmith.simulator.simulate import accelerator
from bitsmith.targets import Target, load_target

_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)\s*([a-z/]*)\s*$", re.IGNORECASE)
_BITS = {"": 1.0, "bit": 1.0, "bits": 1.0, "bits/weight": 1.0}
_BYTES = {"b": 1.0, "byte": 1.0, "bytes": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2.0**10, "mib": 2.0**20,
          "gib": 2.0**30}
_CYCLES = {"": 1.0, "cycles": 1.0, "kcycles": 1e3, "mcycles": 1e6}
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_JOULES = {"": 1.0, "pj": 1.0, "nj": 1e3, "uj": 1e6, "mj": 1e9, "j": 1e12}  # in pJ


def _quantity(text: float | str, units: dict[str, float], what: str, example: str) -> tuple[float, str]:
    """`text` as (value, lower-case unit) for a unit of `units`; a bare number has unit ""."""
    if isinstance(text, (int, float)):
        return float(text), ""
    match = _QUANTITY.match(text)
    unit = match.group(2).lower() if match else None
    if unit not in units:
        raise BitsmithError(f"{what} {text!r}: expected {example}")
    return float(match.group(1)), unit


def target_path(path: str | os.PathLike[str]) -> Path:
    """Where the target of the compiled model saved at `path` is written."""
    return Path(path).with_suffix(".target.yaml")


def parse_budget(budget: float | str) -> Budget:
    """`3.5`, `"3.5bits"` -> an average of 3.5 bits per weight; `"12MB"`, `"1.5MiB"`,
    `"800kB"` -> the model's constant bytes."""
    example = "average bits per weight (3.5bits) or model bytes (12MB, 1.5MiB)"
    value, unit = _quantity(budget, {**_BITS, **_BYTES}, "budget", example)
    if value <= 0:
        raise BitsmithError(f"budget must be positive, got {budget!r}")
    return Budget("bits", value) if unit in _BITS else Budget("bytes", value * _BYTES[unit])


def parse_latency(latency: float | str, clock_hz: float) -> int:
    """`2e6`, `"2.5Mcycles"`, `"2.5ms"` or `"300us"` -> cycles at `clock_hz`."""
    value, unit = _quantity(latency, {**_CYCLES, **_SECONDS}, "latency",
                            "cycles or a time, e.g. 2.5Mcycles or 2.5ms")
    cycles = value * _CYCLES[unit] if unit in _CYCLES else value * _SECONDS[unit] * clock_hz
    if cycles < 1:
        raise BitsmithError(f"latency must be at least one cycle, got {latency!r}")
    return int(cycles)


def parse_energy(energy: float | str) -> float:
    """`"2.5mJ"`, `"800uJ"`, `"3e6pJ"` or a number of pJ -> pJ."""
    value, unit = _quantity(energy, _JOULES, "energy", "an energy, e.g. 2.5mJ, 800uJ or 3e6pJ")
    if value <= 0:
        raise BitsmithError(f"energy must be positive, got {energy!r}")
    return value * _JOULES[unit]


@dataclass(frozen=True)
class CompiledModel:
    """An annotated graph, the target it was compiled for, and how the passes ran."""

    graph: Graph
    target: Target
    records: tuple[PassRecord, ...] = ()
    allocation: BitAllocation | None = None  # what a budget bought (not saved: the graph holds the choice)

    def simulate(self, *, engine: str = "fast", inputs: Any = None) -> SimReport:
        from bitsmith.simulator.simulate import simulate

        return simulate(self.graph, self.target, engine=engine, inputs=inputs)

    def save(self, path: str | os.PathLike[str]) -> None:
        """The graph (JSON + .npz) and the target beside it (`target_path`)."""
        self.graph.save(str(path))
        target_path(path).write_text(self.target.to_yaml())

    @staticmethod
    def load(path: str | os.PathLike[str]) -> CompiledModel:
        beside = target_path(path)
        if not beside.is_file():
            raise BitsmithError(f"{path}: no target beside it ({beside}); was it saved by `bitsmith compile`?")
        return CompiledModel(Graph.load(str(path)), load_target(beside))

    def summary(self, console: Console, report: SimReport | None = None, max_rows: int | None = 40) -> SimReport:
        """One row per GEMM node: weight format, bits per weight, tile, predicted cycles."""
        report = report or self.simulate()
        table = Table(title=f"{self.graph.name} compiled for {self.target.name}")
        for column, justify in (("layer", "left"), ("op", "left"), ("format", "left"), ("bits/w", "right"),
                                ("tile M,N,K / order", "left"), ("cycles", "right")):
            table.add_column(column, justify=justify, overflow="fold")
        gemms = [n for n in self.graph.nodes if n.attrs.get("tile") is not None or _weight(self.graph, n)]
        for node in gemms[:max_rows]:
            weight = _weight(self.graph, node)
            spec = weight.quant if weight is not None else None
            tile = node.attrs.get("tile")
            layer = report.layer(node.name)
            table.add_row(node.name, node.op.value, spec.scheme if spec else (str(weight.type.dtype) if weight else "-"),
                          f"{spec.bits_per_weight():.4g}" if spec else "-",
                          f"{','.join(map(str, tile))} / {node.attrs['loop_order']}" if tile else "default",
                          f"{layer.result.cycles:,}")
        if len(gemms) > len(gemms[:max_rows]):
            table.caption = f"{len(gemms) - max_rows} more layers"
        console.print(table)
        if self.allocation is not None and self.allocation.budget is not None:
            budget = self.allocation.budget
            console.print(f"budget {budget.describe()}: spent {budget.describe(self.allocation.spent)}, "
                          f"{self.allocation.average_bits:.4f} bits/weight on average")
        for record in self.records:
            console.print(f"  pass {record.name}: {record.seconds:.2f} s" + ("" if record.changed else " (no change)"))
        return report


def _weight(graph: Graph, node: Any) -> Any:
    """The parameter constant a GEMM node reads as its weight, if any."""
    from bitsmith.passes.quantize_weights import WEIGHT_OPERANDS

    operand = WEIGHT_OPERANDS.get(node.op)
    if operand is None or len(node.inputs) <= operand[0]:
        return None
    return graph.constant(node.inputs[operand[0]])


def compile_model(model: Any, target: str | Target, example_inputs: Sequence[Any] | None = None, *,
                  budget: float | str | None = None, scheme: str | None = None, group_size: int | None = None,
                  pipeline: str | os.PathLike[str] | Pipeline | None = None,
                  dump_ir: str | os.PathLike[str] | None = None, seq_len: int | None = None,
                  phase: str = "prefill", calibrate: Sensitivity | None = None,
                  latency: float | str | None = None, energy: float | str | None = None) -> CompiledModel:
    """Compile `model` for `target` (module docstring). `scheme`/`group_size` set the
    uniform quantisation; a budget switches to bit allocation: `budget` (average
    bits, `"3.5bits"`, or model bytes, `"12MB"`), `latency` (the weight GEMMs'
    simulated cycles, or a time at the target's clock) or `energy` (their simulated
    energy, `"2.5mJ"`), weighted by the sensitivity `calibrate` names ("activation"
    or "fisher") on the example inputs. `example_inputs` (torch tensors or numpy
    arrays) lower a torch module and are the calibration inputs; a zoo model
    brings its own."""
    loaded = load_target(target) if isinstance(target, (str, os.PathLike)) else target
    graph, inputs = _lowered(model, example_inputs, seq_len, phase)
    if pipeline is None:
        allocation = _budget(loaded, budget, latency, energy)
        if calibrate is not None and (allocation is None or inputs is None):
            raise BitsmithError("calibration weights a bit budget's errors: it needs a budget and example inputs")
        pipeline = _default(loaded, allocation, scheme, group_size, calibrate=calibrate)
    elif not isinstance(pipeline, Pipeline):
        pipeline = Pipeline.from_yaml(pipeline)
    result = pipeline.run(graph, loaded, inputs=inputs, dump_ir=dump_ir)
    return CompiledModel(result.graph, loaded, result.records, result.analyses.get(BitAllocation))


def _lowered(model: Any, example_inputs: Sequence[Any] | None, seq_len: int | None, phase: str
             ) -> tuple[Graph, list[np.ndarray] | None]:
    """The graph to compile and its example inputs as numpy arrays (None if there are none)."""
    if isinstance(model, Graph):
        graph, inputs = model, example_inputs
    else:
        from bitsmith.api import load, lower

        if isinstance(model, str):
            model = load(model, seq_len=seq_len, phase=phase)
            own = None if model.shape_only else model.example_inputs  # a shape-only model's are meta tensors
            inputs = example_inputs if example_inputs is not None else own
        else:
            inputs = example_inputs
        graph = lower(model, example_inputs)
    if inputs is None:
        return graph, None
    return graph, [np.asarray(x.detach().numpy() if hasattr(x, "detach") else x) for x in inputs]


def _budget(target: Target, budget: float | str | None, latency: float | str | None,
            energy: float | str | None) -> Budget | None:
    """The one budget given, in allocate_bits' terms, or None for uniform quantisation."""
    given = [name for name, value in (("budget", budget), ("latency", latency), ("energy", energy)) if value is not None]
    if len(given) > 1:
        raise BitsmithError(f"give one budget, not {' and '.join(given)}")
    if budget is not None:
        return parse_budget(budget)
    if latency is not None:
        return Budget("cycles", parse_latency(latency, getattr(target, "clock_hz", 1.0)))
    return None if energy is None else Budget("energy_pj", parse_energy(energy))


def _default(target: Target, budget: Budget | None, scheme: str | None, group_size: int | None, *,
             calibrate: Sensitivity | None) -> Pipeline:
    names = list(DEFAULT_PASSES[target.kind])
    options: dict[str, object] = {}
    if budget is not None:
        if "quantize_weights" not in names:
            raise BitsmithError(f"target {target.name}: a budget needs an accelerator target with weight formats")
        if scheme is not None:
            raise BitsmithError("give either a budget (mixed formats) or a format, not both")
        names = [name for name in BUDGET_PASSES if calibrate is not None or name != "calibrate"]
        if calibrate is not None:
            options["calibrate.sensitivity"] = calibrate
        integral = budget.kind in ("bytes", "cycles")
        options[f"allocate_bits.budget_{budget.kind}"] = int(budget.value) if integral else budget.value
        if group_size is not None:
            options["allocate_bits.group_size"] = group_size
    else:
        if scheme is not None:
            options["quantize_weights.scheme"] = scheme
        if group_size is not None:
            options["quantize_weights.group_size"] = group_size
        if options and "quantize_weights" not in names:
            raise BitsmithError(f"target {target.name} ({target.kind}) quantises nothing: --format/--group-size "
                                "need an accelerator target")
    return Pipeline.of(names, options, origin=f"default pipeline for {target.name}")


def prepare_weights(graph: Graph, target: str | Target, scheme: str | None = None,
                    group_size: int | None = None) -> Graph:
    """`graph` with its GEMM weights in `scheme` (default: the target's
    `default_weights`), grouped by `group_size` (default: the target's; None:
    one scale per output channel). A graph with quantised weights already is
    returned as it is; a wide float type (`f16`) stores the weights in it
    (`passes.quantize_weights.store_weights`)."""
    accel = accelerator(target)
    if any(const.quant is not None for const, _, _ in weight_operands(graph)):
        return graph
    scheme = scheme or accel.formats.default_weights
    group_size = group_size or accel.formats.group_size
    try:
        return store_weights(graph, scheme, group_size=group_size,
                             granularity="channel" if group_size is None else "group")
    except PassError as err:
        raise SimulationError(str(err)) from None
