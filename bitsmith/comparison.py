"""The accelerator the simulator predicts against the CPU (or GPU) TVM measures,
on the same annotated graph, layer by layer.

`compare(model, "bitmod")` compiles the model for the accelerator (its formats,
tiles, activation quantisers), simulates it (per-layer cycles; latency at the
target's clock), builds the *same* graph with TVM for the host (`backend="cpu"`)
or a GPU (`"cuda"`), checks the outputs against `ir.interpret`, times the whole
model and each GEMM layer alone, and returns a `ComparisonReport` whose `print`
shows one table: layer, op, weight format, simulated cycles and µs, measured µs,
and the speed-up the accelerator would give (measured / simulated). Vector ops
run on the CPU inside the whole-model figure; the per-layer rows are the GEMMs,
where the accelerator's array does the work.

`model_and_inputs` is the shared first step with `bitsmith run`: a zoo model
comes with its example inputs; a saved graph gets placeholder inputs
(`graph_runtime.placeholder_inputs`).

A report saves as JSON (`to_json`, `bitsmith compare --json`) and reads back
(`from_json`), so a measurement taken once, on the machine that has the CPU or
GPU, can be shown later by `bitsmith report` anywhere. The document names its
kind (`"kind": "comparison"`) so a reader can tell it from other results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.backends.tvm.graph_runtime import Check, GraphRunner, placeholder_inputs, time_layers
from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Graph
from bitsmith.simulator.report import SimReport

BACKEND_DEVICES = {"cpu": "cpu", "cuda": "cuda"}
COMPARISON_KIND = "comparison"


def model_and_inputs(model: str, *, seq_len: int | None = None, phase: str = "prefill"
                     ) -> tuple[Graph, dict[str, np.ndarray]]:
    """MODEL (a saved graph `.json`, a zoo name or `file.py:factory`) as a graph
    and inputs to run it on."""
    from bitsmith.api import load, lower
    from bitsmith.cli_options import is_saved_graph

    if is_saved_graph(model):
        graph = Graph.load(model)
        return graph, placeholder_inputs(graph)
    loaded = load(model, seq_len=seq_len, phase=phase)
    graph = lower(loaded)
    if loaded.shape_only:
        return graph, placeholder_inputs(graph)
    arrays = [x.detach().numpy() for x in loaded.example_inputs]
    return graph, {v.name: a for v, a in zip(graph.inputs, arrays, strict=True)}


@dataclass(frozen=True)
class LayerComparison:
    """One GEMM layer: what the simulator predicts and what TVM measured."""

    name: str
    op: str
    format: str
    sim_cycles: int
    sim_s: float
    measured_s: float

    @property
    def speedup(self) -> float:
        return self.measured_s / self.sim_s if self.sim_s else float("inf")


@dataclass(frozen=True)
class ComparisonReport:
    """The per-layer rows, the whole-model figures, and the outputs check."""

    graph: str
    accelerator: str
    clock_hz: float
    backend: str
    layers: tuple[LayerComparison, ...]
    sim_total_s: float  # every layer, vector ops included
    measured_total_s: float  # the whole model in one call
    check: Check  # the backend's outputs against interpret

    @property
    def sim_gemm_s(self) -> float:
        """Simulated seconds of the GEMM layers (the rows), summed."""
        return sum(r.sim_s for r in self.layers)

    @property
    def measured_gemm_s(self) -> float:
        """Measured seconds of the GEMM layers, each timed alone, summed."""
        return sum(r.measured_s for r in self.layers)

    def to_json(self) -> str:
        document = {"kind": COMPARISON_KIND, **asdict(self)}
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ComparisonReport:
        """A report saved by `to_json`; a document of another kind is a BitsmithError."""
        document = json.loads(text)
        if not isinstance(document, dict) or document.pop("kind", None) != COMPARISON_KIND:
            raise BitsmithError("not a comparison saved by `bitsmith compare --json`")
        try:
            layers = tuple(LayerComparison(**row) for row in document.pop("layers"))
            return cls(layers=layers, check=Check(**document.pop("check")), **document)
        except (KeyError, TypeError) as error:
            raise BitsmithError(f"a comparison with missing or unknown fields ({error})") from None

    def print(self, console: Console, *, max_rows: int | None = 40) -> None:
        table = Table(title=f"{self.graph}: {self.accelerator} (simulated, {self.clock_hz / 1e9:g} GHz) "
                            f"vs {self.backend} (TVM, measured)")
        for column, justify in (("layer", "left"), ("op", "left"), ("format", "left"), ("sim cycles", "right"),
                                ("sim µs", "right"), (f"{self.backend} µs", "right"), ("speed-up", "right")):
            table.add_column(column, justify=justify, overflow="fold")
        for row in self.layers[:max_rows]:
            table.add_row(row.name, row.op, row.format, f"{row.sim_cycles:,}", f"{row.sim_s * 1e6:,.2f}",
                          f"{row.measured_s * 1e6:,.2f}", f"{row.speedup:,.3g}x")
        if max_rows is not None and len(self.layers) > max_rows:
            table.caption = f"{len(self.layers) - max_rows} more layers"
        sim, measured = self.sim_gemm_s, self.measured_gemm_s
        table.add_section()
        table.add_row("GEMM layers", "", "", f"{sum(r.sim_cycles for r in self.layers):,}", f"{sim * 1e6:,.2f}",
                      f"{measured * 1e6:,.2f}", f"{measured / sim:,.3g}x" if sim else "-")
        table.add_row("whole model", "", "", "", f"{self.sim_total_s * 1e6:,.2f}",
                      f"{self.measured_total_s * 1e6:,.2f}", f"{self.measured_total_s / self.sim_total_s:,.3g}x")
        console.print(table)
        console.print(self.check.describe())


def compare(model: str, target: str = "bitmod", backend: str = "cpu", *, scheme: str | None = None,
            group_size: int | None = None, seq_len: int | None = None, phase: str = "prefill",
            repeat: int = 7, tune: bool = False) -> ComparisonReport:
    """Simulate `model` compiled for the accelerator `target` and measure the same
    graph on `backend` (module docstring). A saved graph whose weights are
    quantised already is used as it is."""
    from bitsmith.compiler import compile_model
    from bitsmith.simulator.simulate import accelerator, simulate

    if backend not in BACKEND_DEVICES:
        raise BitsmithError(f"unknown backend {backend!r}: expected one of {', '.join(BACKEND_DEVICES)}")
    accel = accelerator(target)
    device = BACKEND_DEVICES[backend]
    graph, inputs = model_and_inputs(model, seq_len=seq_len, phase=phase)
    if not any(const.quant is not None for const in graph.constants):  # a saved compiled graph is used as it is
        graph = compile_model(graph, accel, scheme=scheme, group_size=group_size).graph
    report = simulate(graph, accel)
    runner = GraphRunner(graph, device, tune=tune)
    check = runner.check(inputs)
    whole = runner.measure(inputs, repeat=repeat)
    layers = []
    for name, timing in time_layers(graph, device, repeat=repeat, tune=tune).items():
        cycles = _simulated_cycles(report, name)
        layers.append(LayerComparison(name, graph.producer(name).op.value, _weight_format(graph, name), cycles,
                                      cycles / report.clock_hz, timing.median_s))
    return ComparisonReport(graph.name, accel.name, report.clock_hz, backend, tuple(layers), report.latency_s,
                            whole.median_s, check)


def _simulated_cycles(report: SimReport, name: str) -> int:
    """A node's simulated cycles; the simulator splits attention into
    `name.qk`, `name.softmax` and `name.pv`, which are summed."""
    parts = [layer.result.cycles for layer in report.layers
             if layer.result.name == name or layer.result.name.startswith(f"{name}.")]
    if not parts:
        raise BitsmithError(f"the simulation of {report.graph} has no layer {name!r}")
    return sum(parts)


def _weight_format(graph: Graph, name: str) -> str:
    """The scheme of the layer's quantised weight, the dtype of a float one, or
    "-" when both operands are computed (attention, activation matmuls)."""
    const = graph.constant(graph.producer(name).inputs[1])
    if const is None:
        return "-"
    return const.quant.scheme if const.quant is not None else str(const.type.dtype)
