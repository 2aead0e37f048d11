"""Plots of a `SimReport` (matplotlib, Agg: files only, no display needed).

- `cycles.png`: cycles per layer, GEMMs and vector layers in two colours;
- `energy.png`: energy by component (unknown components are listed in the title,
  not drawn as zero);
- `roofline.png`: each GEMM layer's attained MACs per cycle against its
  operational intensity (MACs per DRAM byte), under the DRAM roof
  (bytes per cycle x intensity) and each distinct compute roof (the array's peak
  MACs per cycle at the layer's operand widths).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from bitsmith.simulator.report import SimReport


def write_plots(report: SimReport, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PLOTS:
        paths.append(directory / f"{name}.png")
        paths[-1].write_bytes(render(report, name, "png"))
    return paths


def render(report: SimReport, name: str, fmt: str) -> bytes:
    """Plot `name` (a key of PLOTS) of `report` as a file's bytes in `fmt` ("png",
    or "svg" with text left as text, for pages that embed it)."""
    fig, ax = plt.subplots(figsize=(10, 5))
    PLOTS[name](report, ax)
    return figure_bytes(fig, fmt)


def figure_bytes(fig: plt.Figure, fmt: str) -> bytes:
    """`fig` laid out, saved in `fmt` (an SVG's text stays text) and closed."""
    fig.tight_layout()
    buffer = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt, dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _cycles(report: SimReport, ax: plt.Axes) -> None:
    names = [layer.result.name for layer in report.layers]
    colours = ["tab:blue" if layer.is_gemm else "tab:orange" for layer in report.layers]
    ax.bar(range(len(names)), [layer.result.cycles for layer in report.layers], color=colours)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("cycles")
    ax.set_title(f"{report.graph} on {report.target}: cycles per layer (blue GEMM, orange vector)")


def _energy(report: SimReport, ax: plt.Axes) -> None:
    energy = report.energy
    known = {name: value for name, value in energy.components.items() if value}
    ax.bar(list(known), [value / 1e6 for value in known.values()])
    ax.set_ylabel("energy (µJ)")
    missing = f"; unknown: {', '.join(energy.unknown)}" if energy.unknown else ""
    ax.set_title(f"energy by component{missing}", fontsize=9)


def _roofline(report: SimReport, ax: plt.Axes) -> None:
    gemms = [layer for layer in report.layers if layer.is_gemm and layer.result.cycles and layer.result.dram_bytes]
    intensity = np.array([layer.result.macs / layer.result.dram_bytes for layer in gemms])
    attained = np.array([layer.result.macs / layer.result.cycles for layer in gemms])
    if len(gemms):
        ax.scatter(intensity, attained, s=12, zorder=3, label="layers")
        span = np.geomspace(min(intensity.min(), 1e-2) / 2, max(intensity.max(), 1e2) * 2, 200)
        ax.plot(span, report.dram_bytes_per_cycle * span, "k--", label="DRAM roof")
        for peak in sorted({layer.peak_macs_per_cycle for layer in gemms}):
            ax.axhline(peak, color="tab:red", lw=1, label=f"compute roof {peak:g} MAC/cycle")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel("operational intensity (MACs per DRAM byte)")
    ax.set_ylabel("attained MACs per cycle")
    ax.set_title(f"roofline: {report.target}")


PLOTS: dict[str, Callable[[SimReport, plt.Axes], None]] = {"cycles": _cycles, "energy": _energy, "roofline": _roofline}
