"""Rich tables that describe a lowered graph: what `bitsmith lower` and `show` print;
and the rows of the number-format tables, which `bitsmith formats` prints and the
documentation's format reference (bitsmith.docs_gen) writes as markdown."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from bitsmith.ir.graph import Graph
from bitsmith.ir.stats import graph_stats


def human(count: float) -> str:
    """1234567 -> '1.23M': counts at a glance; exact figures sit beside them."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.2f}{unit}"
    return f"{count:g}"


def grid_text(grid: np.ndarray, max_values: int = 16) -> str:
    """A format's value grid: every value when short, else its range and count."""
    if len(grid) <= max_values:
        return "{" + ", ".join(f"{v:g}" for v in grid) + "}"
    return f"{grid[0]:g} .. {grid[-1]:g} ({len(grid)} values)"


def print_summary(graph: Graph, console: Console, max_layers: int | None = 40) -> None:
    """Inputs, totals, op histogram, and one row per GEMM-like layer."""
    stats = graph_stats(graph)
    console.print(f"[bold]{graph.name}[/]: {len(graph.nodes)} nodes, {len(graph.constants)} constants"
                  + (" [yellow](shape-only: weights carry no data)[/]" if graph.shape_only else ""))
    for value in graph.inputs:
        console.print(f"  input  %{value.name}: {value.type}")
    for value in graph.output_values():
        console.print(f"  output %{value.name}: {value.type}")
    console.print(f"  parameters: {stats.parameters:,} ({human(stats.parameters)}, "
                  f"{human(stats.parameter_bytes)}B at their stored types)")
    console.print(f"  MACs: {stats.macs:,} ({human(stats.macs)})")
    console.print("  ops: " + ", ".join(f"{op.value}×{n}" for op, n in stats.op_counts.items()))

    table = Table(title="GEMM-like layers", show_lines=False)
    table.add_column("layer", overflow="fold")
    table.add_column("op")
    table.add_column("output", overflow="fold")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    layers = stats.layers if max_layers is None else stats.layers[:max_layers]
    for layer in layers:
        table.add_row(layer.name, layer.op.value, layer.output, f"{layer.parameters:,}", f"{layer.macs:,}")
    if len(layers) < len(stats.layers):
        table.caption = f"{len(stats.layers) - len(layers)} more layers (use --all-layers)"
    console.print(table)


def format_tables() -> list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]]:
    """(title, columns, rows) of every registered format, the per-group mixtures,
    and the block (MX) and outlier (OliVe) schemes."""
    from bitsmith.ir.formats import MIXTURES, format_names, get_format
    from bitsmith.ir.formats.schemes import MX_FORMATS, OLIVE_SCHEMES

    formats = [(name, str(fmt.bits), fmt.family, grid_text(fmt.grid), fmt.description)
               for name, fmt in ((name, get_format(name)) for name in format_names())]
    mixtures = [(name, ", ".join(members)) for name, members in MIXTURES.items()]
    schemes = [(name, element, "E8M0 power of two per block of 32 (OCP MX v1.0)")
               for name, (element, _) in MX_FORMATS.items()]
    schemes += [(name, f"int{bits}_sym + olive_abfloat{bits} outlier-victim pairs", "max|mean ± 3σ| per group")
                for name, bits in OLIVE_SCHEMES.items()]
    return [
        ("bitsmith number formats (values in the format's own units, before scaling)",
         ("name", "bits", "family", "values", "description"), formats),
        ("per-group mixtures (each group takes the candidate with the least error)", ("name", "candidates"), mixtures),
        ("block and outlier schemes (also accepted by `bitsmith quantize --format`)",
         ("name", "elements", "scale"), schemes),
    ]
