"""What a report is made from: a result file read back, and the GEMM whose cycles
the timeline shows.

A result is one of:
- a compiled model saved by `bitsmith compile` (its JSON, with `.target.yaml`
  beside it): simulated afresh, and its layer problems give formats and bits;
- a SimReport saved by `bitsmith simulate --json`: shown as saved;
- a CSV of design points, one row per point (what a DSE store exports): its
  Pareto front. A store of another kind needs only a loader giving rows.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from bitsmith.compiler import CompiledModel
from bitsmith.ir.errors import BitsmithError
from bitsmith.report_html.pareto import Row
from bitsmith.report_html.timeline import Timeline, record_timeline
from bitsmith.simulator.engines import Mapping
from bitsmith.simulator.problem import GemmProblem, LayerProblem
from bitsmith.simulator.report import SimReport
from bitsmith.simulator.simulate import accelerator, node_mappings
from bitsmith.simulator.workload import workload
from bitsmith.targets import Accelerator


@dataclass(frozen=True)
class Result:
    """A result file read back: a simulated model (with its problems and target when
    it was compiled), or design points."""

    report: SimReport | None = None
    problems: dict[str, LayerProblem] | None = None
    target: Accelerator | None = None
    mappings: dict[str, Mapping] | None = None
    design_points: list[Row] | None = None


def load_result(path: Path, *, engine: str = "fast") -> Result:
    """Read `path` as one of the result kinds of the module docstring."""
    if not path.is_file():
        raise BitsmithError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return Result(design_points=read_design_points(path))
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BitsmithError(f"{path}: not a JSON result ({error})") from None
    if isinstance(document, dict) and "totals" in document and "layers" in document:
        return Result(report=SimReport.from_json(path.read_text()))
    compiled = CompiledModel.load(path)
    accel = accelerator(compiled.target)
    report = compiled.simulate(engine=engine)
    problems = {problem.name: problem for problem in workload(compiled.graph, accel)}
    return Result(report, problems, accel, node_mappings(compiled.graph))


def read_design_points(path: Path) -> list[Row]:
    """A CSV's rows, numbers as floats and other cells as text."""
    with path.open(newline="") as handle:
        rows = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    if not rows:
        raise BitsmithError(f"{path}: no design points")
    return rows


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def gemm_timeline(result: Result, shape: tuple[int, int, int] | None, target: str | None) -> Timeline | None:
    """The timeline of GEMM `shape` (M, N, K) on the result's target (or `target`),
    or else of the result's smallest GEMM layer; None when there is neither."""
    from bitsmith.trace_cli import gemm_problem

    accel = accelerator(target) if target is not None else result.target
    if accel is None and result.report is not None and shape is not None:
        accel = accelerator(result.report.target)
    phase = result.report.phase if result.report is not None else "prefill"
    if shape is not None:
        if accel is None:
            raise BitsmithError("--gemm needs a target: give --target")
        return record_timeline(gemm_problem(accel, *shape, None, None), accel, phase=phase)
    gemms = [p for p in (result.problems or {}).values() if isinstance(p, GemmProblem)]
    if accel is None or not gemms:
        return None
    smallest = min(gemms, key=lambda p: p.macs)
    return record_timeline(smallest, accel, phase=phase, mapping=(result.mappings or {}).get(smallest.name))
