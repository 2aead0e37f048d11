"""What a report is made from: a result file read back, and the GEMM whose cycles
the timeline shows.

A result is one of:
- a compiled model saved by `bitsmith compile` (its JSON, with `.target.yaml`
  beside it): simulated afresh, and its layer problems give formats and bits;
- a SimReport saved by `bitsmith simulate --json`: shown as saved;
- a CSV of design points, one row per point (what a DSE store exports): its
  Pareto front over the columns the command line names;
- a DSE results store (`bitsmith explore --store`, SQLite, known by its header
  whatever its name): the feasible points of its last sweep, over the sweep's own
  objectives;
- a comparison saved by `bitsmith compare --json`: simulated against measured,
  per layer.
A store of another kind needs only a loader giving rows.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # bitsmith.comparison imports TVM: only a comparison's report pays for it
    from bitsmith.comparison import ComparisonReport


@dataclass(frozen=True)
class Result:
    """A result file read back: a simulated model (with its problems and target when
    it was compiled), design points (with their objectives when the file names
    them), or a comparison; `title` names what the page shows."""

    report: SimReport | None = None
    problems: dict[str, LayerProblem] | None = None
    target: Accelerator | None = None
    mappings: dict[str, Mapping] | None = None
    design_points: list[Row] | None = None
    objectives: dict[str, str] | None = None  # the design points' own objectives (a store's sweep)
    design_note: str | None = None
    comparison: ComparisonReport | None = None
    title: str | None = None


SQLITE_HEADER = b"SQLite format 3\x00"


def load_result(path: Path, *, engine: str = "fast") -> Result:
    """Read `path` as one of the result kinds of the module docstring."""
    if not path.is_file():
        raise BitsmithError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        return Result(design_points=read_design_points(path))
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
            return read_store(path)
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BitsmithError(f"{path}: not a JSON result ({error})") from None
    if isinstance(document, dict) and "totals" in document and "layers" in document:
        return Result(report=SimReport.from_json(path.read_text()))
    if isinstance(document, dict) and "kind" in document:
        from bitsmith.comparison import ComparisonReport

        try:
            comparison = ComparisonReport.from_json(path.read_text())
        except BitsmithError as error:
            raise BitsmithError(f"{path}: {error}") from None
        return Result(comparison=comparison, title=f"{comparison.graph}: {comparison.accelerator} simulated "
                                                      f"against {comparison.backend} measured")
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


def read_store(path: Path) -> Result:
    """The last sweep of a DSE store as design points: every feasible point's
    axes (as the store's tables label them) and figures, with the sweep's
    objectives. Points that break a constraint or failed are counted in the note,
    not plotted: they cannot be on the front."""
    from bitsmith.dse.report import pareto
    from bitsmith.dse.space import label
    from bitsmith.dse.spec import OBJECTIVES, SweepSpec
    from bitsmith.dse.store import ResultStore

    with ResultStore(path, create=False) as store:
        name, document = store.sweep_spec()
        spec = SweepSpec.model_validate(document)
        found = pareto(spec, store.outcomes(name))
    feasible = found.front + found.dominated
    if not feasible:
        raise BitsmithError(f"{path}: sweep {name} has no feasible point to report")
    rows = [{axis: label(value) for axis, value in o.config.items()} | o.figures for o in feasible]
    objectives = {OBJECTIVES[n][0]: "max" if OBJECTIVES[n][2] else "min" for n in spec.objectives}
    note = (f"Sweep {name} ({', '.join(w.label for w in spec.workloads)} on {spec.base} variants): "
            f"{len(found.infeasible)} more points break a constraint and {len(found.failed)} failed.")
    return Result(design_points=rows, objectives=objectives, design_note=note, title=f"design space: {name}")


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
    if accel is None and shape is not None and (result.report or result.comparison) is not None:
        accel = accelerator(result.report.target if result.report is not None else result.comparison.accelerator)
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
