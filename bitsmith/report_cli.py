"""`bitsmith report`: one self-contained HTML page of a result, to open anywhere.

RESULT is a compiled model (`bitsmith compile -o`), a simulation report
(`bitsmith simulate --json`), a CSV of design points, a DSE results store
(`bitsmith explore --store`) or a comparison (`bitsmith compare --json`);
report_html/inputs.py says how each is read and report_html/page.py what the page
holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def parse_pairs(texts: list[str], separator: str, option: str) -> dict[str, str]:
    """`["a=1", "b=2"]` -> {"a": "1", "b": "2"}; a text without `separator` is a usage error."""
    pairs = {}
    for text in texts:
        key, found, value = text.partition(separator)
        if not (found and key and value):
            raise typer.BadParameter(f"expected NAME{separator}VALUE, got {text!r}", param_hint=option)
        pairs[key] = value
    return pairs


def report_command(
    result: Annotated[Path, typer.Argument(help="A compiled model (.json), a simulation report (--json of "
                                                "`bitsmith simulate`), design points (.csv), a DSE results store "
                                                "(`bitsmith explore --store`) or a comparison (--json of "
                                                "`bitsmith compare`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML page.")],
    gemm: Annotated[str | None, typer.Option("--gemm", help="Timeline of this GEMM, MxNxK (default: the model's "
                                                            "smallest GEMM layer).")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Target of the --gemm timeline (default: "
                                                                      "the result's).")] = None,
    accuracy: Annotated[list[str] | None, typer.Option("--accuracy", help="An accuracy figure measured for this "
                                                       "model, NAME=VALUE (e.g. cosine=0.9856); repeatable.")] = None,
    objective: Annotated[list[str] | None, typer.Option("--objective", help="Design points: a column and its sense, "
                                                        "NAME:min or NAME:max; repeatable, the first two are "
                                                        "plotted (default for a store: its sweep's "
                                                        "objectives).")] = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="Engine simulating a compiled model: 'fast' or "
                                                               "'trace'.")] = "fast",
) -> None:
    """Write an HTML report of RESULT: per-layer table, energy and area, roofline, a per-cycle timeline, Pareto
    front, simulated against measured."""
    from bitsmith.ir.errors import BitsmithError
    from bitsmith.report_html.inputs import gemm_timeline, load_result
    from bitsmith.report_html.page import build_report
    from bitsmith.trace_cli import parse_gemm

    shape = parse_gemm(gemm) if gemm is not None else None
    figures = {name: _float(value, "--accuracy") for name, value in parse_pairs(accuracy or [], "=",
                                                                                   "--accuracy").items()}
    objectives = parse_pairs(objective or [], ":", "--objective")
    with console.status(f"reading {result} ..."):
        loaded = load_result(result, engine=engine)
    objectives = objectives or loaded.objectives or {}
    if loaded.design_points is not None:
        if not objectives:
            raise BitsmithError(f"{result}: design points need --objective NAME:min|max (columns: "
                                f"{', '.join(loaded.design_points[0])})")
        missing = [name for name in objectives if name not in loaded.design_points[0]]
        if missing:
            raise BitsmithError(f"{result}: no column {', '.join(missing)} for --objective")
        if any(sense not in ("min", "max") for sense in objectives.values()):
            raise BitsmithError("--objective: the sense must be 'min' or 'max'")
    with console.status("tracing the timeline ..."):
        timeline = gemm_timeline(loaded, shape, target)
    page = build_report(loaded.report, problems=loaded.problems, timeline=timeline, accuracy=figures,
                        design_points=loaded.design_points, objectives=objectives, design_note=loaded.design_note,
                        comparison=loaded.comparison, title=loaded.title)
    output.write_text(page, encoding="utf-8")
    shown = f"; timeline: {timeline.title}, {timeline.cycles:,} cycles" if timeline is not None else ""
    console.print(f"wrote {output} ({len(page.encode()) / 1024:,.0f} KiB{shown})", highlight=False)


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"expected a number, got {text!r}", param_hint=option) from None
