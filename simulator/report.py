"""`SimReport`: what simulating a graph on a target found, per layer and in total.

Per layer: the engine's `LayerResult` (cycles, busy and stall cycles per unit,
actions, traffic, utilisation, mapping), its energy by component (energy.py) and,
for a GEMM, the array's peak MACs per cycle at the layer's operand widths (the
compute roof of the roofline). Totals are derived, never stored apart from the
layers: layers run one after another, so cycles add; latency is cycles at the
target clock; utilisation is the cycle-weighted mean of the GEMM layers'.

The report round-trips through JSON (`to_json` / `from_json`); functional outputs,
when computed, ride along in memory only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.simulator.area import AreaReport
from bitsmith.simulator.breakdown import Breakdown
from bitsmith.simulator.problem import LayerResult


@dataclass(frozen=True)
class LayerReport:
    result: LayerResult
    energy: Breakdown
    peak_macs_per_cycle: float | None = None  # None: not a GEMM

    @property
    def is_gemm(self) -> bool:
        return self.peak_macs_per_cycle is not None


@dataclass(frozen=True)
class SimReport:
    graph: str
    target: str
    phase: str
    engine: str
    clock_hz: float
    dram_bytes_per_cycle: float
    layers: tuple[LayerReport, ...]
    area: AreaReport
    outputs: list[np.ndarray] | None = field(default=None, compare=False, repr=False)

    # --- totals -------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        return sum(layer.result.cycles for layer in self.layers)

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def macs(self) -> int:
        return sum(layer.result.macs for layer in self.layers)

    @property
    def utilisation(self) -> float:
        """Cycle-weighted mean utilisation of the GEMM layers (0 without any)."""
        gemms = [layer.result for layer in self.layers if layer.is_gemm]
        cycles = sum(r.cycles for r in gemms)
        return sum(r.utilisation * r.cycles for r in gemms) / cycles if cycles else 0.0

    @property
    def dram_bytes(self) -> float:
        return sum(layer.result.dram_bytes for layer in self.layers)

    @property
    def sram_bytes(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for layer in self.layers:
            for buffer, moved in layer.result.sram_bytes.items():
                totals[buffer] = totals.get(buffer, 0.0) + moved
        return totals

    @property
    def energy(self) -> Breakdown:
        return Breakdown.combine(layer.energy for layer in self.layers)

    def layer(self, name: str) -> LayerReport:
        for layer in self.layers:
            if layer.result.name == name:
                return layer
        raise KeyError(f"report has no layer {name!r}")

    # --- JSON -----------------------------------------------------------------------
    def to_json(self) -> str:
        """The report as JSON: inputs to every figure, plus the totals for readers
        (recomputed, not read, by `from_json`)."""
        document = {
            "graph": self.graph, "target": self.target, "phase": self.phase, "engine": self.engine,
            "clock_hz": self.clock_hz, "dram_bytes_per_cycle": self.dram_bytes_per_cycle,
            "layers": [{**asdict(layer.result), "energy_pj": dict(layer.energy.components),
                        "peak_macs_per_cycle": layer.peak_macs_per_cycle} for layer in self.layers],
            "area_mm2": dict(self.area.breakdown.components),
            "pe_array_synthesis_mm2": self.area.pe_array_synthesis_mm2,
            "totals": {"cycles": self.cycles, "latency_s": self.latency_s, "macs": self.macs,
                       "utilisation": self.utilisation, "dram_bytes": self.dram_bytes, "sram_bytes": self.sram_bytes,
                       "energy_pj": self.energy.total, "energy_unknown": list(self.energy.unknown),
                       "area_mm2": self.area.breakdown.total, "area_unknown": list(self.area.breakdown.unknown)},
        }
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SimReport:
        document = json.loads(text)
        layers = []
        for entry in document["layers"]:
            energy = Breakdown(entry.pop("energy_pj"))
            peak = entry.pop("peak_macs_per_cycle")
            layers.append(LayerReport(LayerResult(**entry), energy, peak))
        area = AreaReport(Breakdown(document["area_mm2"]), document["pe_array_synthesis_mm2"])
        return cls(document["graph"], document["target"], document["phase"], document["engine"],
                   document["clock_hz"], document["dram_bytes_per_cycle"], tuple(layers), area)

    # --- output ------------------------------------------------------------------------
    def print(self, console: Console, *, max_layers: int | None = None) -> None:
        """A per-layer table, then the totals."""
        total = max(self.cycles, 1)
        table = Table(title=f"{self.graph} on {self.target} ({self.phase}, {self.engine} engine)")
        for column in ("layer", "op", "cycles", "% time", "util", "DRAM KiB", "energy nJ", "mapping"):
            table.add_column(column, justify="left" if column in ("layer", "op", "mapping") else "right")
        shown = self.layers if max_layers is None else self.layers[:max_layers]
        for layer in shown:
            r = layer.result
            energy = f"{layer.energy.total / 1e3:,.3f}" + ("" if layer.energy.complete else "+?")
            table.add_row(r.name, r.op, f"{r.cycles:,}", f"{100 * r.cycles / total:.1f}",
                          f"{r.utilisation:.2f}" if layer.is_gemm else "", f"{r.dram_bytes / 1024:,.1f}", energy,
                          r.mapping)
        if len(shown) < len(self.layers):
            table.caption = f"{len(self.layers) - len(shown)} more layers not shown"
        console.print(table)
        for line in self.summary_lines():
            console.print(line, highlight=False, markup=False)

    def summary_lines(self) -> list[str]:
        sram = ", ".join(f"{name} {moved / 2**20:,.2f} MiB" for name, moved in self.sram_bytes.items()) or "none"
        energy = self.energy
        parts = ", ".join(f"{name} {'?' if value is None else f'{value / 1e6:,.4g}'}"
                          for name, value in energy.components.items() if value != 0)
        synthesis = self.area.pe_array_synthesis_mm2
        return [
            f"cycles: {self.cycles:,}  latency: {self.latency_s * 1e3:,.4g} ms at {self.clock_hz / 1e9:g} GHz",
            f"MACs: {self.macs:,}  GEMM utilisation: {self.utilisation:.3f}",
            f"DRAM: {self.dram_bytes / 2**20:,.2f} MiB  SRAM: {sram}",
            f"energy: {energy.describe('µJ', 1e-6)}" + (f"  [{parts} µJ]" if parts else ""),
            f"area: {self.area.breakdown.describe('mm²')}"
            + ("" if synthesis is None else f"  (PE array before place-and-route: {synthesis:.4g} mm²)"),
        ]

    def plot(self, directory: str | Path) -> list[Path]:
        """Write the per-layer cycle bars, energy breakdown and roofline as PNGs."""
        from bitsmith.simulator.plots import write_plots

        return write_plots(self, Path(directory))
