"""The per-weight error table `bitsmith quantize` prints."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from bitsmith.passes.quantize_weights import WeightReport
from bitsmith.summary import human


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, spec)


def _formats_text(report: WeightReport) -> str:
    """The format, or for a mixture each candidate's share of groups, with the
    candidates' common name prefix left out (`er_pos 39% ea_neg 21% ...`)."""
    counts = report.format_counts or dict.fromkeys(report.spec.formats, 0)
    if len(counts) == 1:
        return next(iter(counts))
    prefix = os.path.commonprefix(list(report.spec.formats))
    prefix = prefix[: prefix.rfind("_") + 1]
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return " ".join(f"{name.removeprefix(prefix)} {100 * n / total:.0f}%" for name, n in ranked)


def print_quant_report(reports: Sequence[WeightReport], console: Console, *, title: str,
                       max_rows: int | None = 40) -> None:
    """One row per weight (format use, bits per weight, SQNR, errors), then totals."""
    table = Table(title=title)
    for column, justify in (("weight", "left"), ("shape", "left"), ("formats", "left"),
                            ("bits/w", "right"), ("SQNR dB", "right"), ("rel. RMS err", "right"),
                            ("max |err|", "right"), ("outliers", "right")):
        table.add_column(column, justify=justify, overflow="fold", no_wrap=justify == "right")
    rows = reports if max_rows is None else reports[:max_rows]
    for r in rows:
        table.add_row(r.name, "x".join(map(str, r.shape)), _formats_text(r), f"{r.bits_per_weight:.4g}",
                      _fmt(r.sqnr_db, ".2f"), _fmt(r.relative_rms_error, ".4f"), _fmt(r.max_abs_error, ".3g"),
                      str(r.outliers) if r.spec.outlier_format else "-")
    if len(rows) < len(reports):
        table.caption = f"{len(reports) - len(rows)} more weights (use --all-layers)"
    console.print(table)
    elements = sum(math.prod(r.shape) for r in reports)
    stored_bits = sum(math.prod(r.shape) * r.bits_per_weight for r in reports)
    line = (f"{len(reports)} weights, {human(elements)} elements: {human(stored_bits / 8)}B quantised "
            f"({stored_bits / max(elements, 1):.4g} bits/weight) vs {human(elements * 4)}B in f32")
    errors = [r for r in reports if r.relative_rms_error is not None]
    if errors:
        mean_sqnr = sum(r.sqnr_db for r in errors) / len(errors)
        worst = min(errors, key=lambda r: r.sqnr_db)
        line += f"; mean SQNR {mean_sqnr:.2f} dB, worst {worst.sqnr_db:.2f} dB (%{worst.name})"
    console.print(line)
