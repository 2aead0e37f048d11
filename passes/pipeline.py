"""`Pipeline`: passes run in order, the graph checked after every one.

A pipeline is a list of pass names plus their options, written in Python or in
YAML:

    # my_pipeline.yaml
    passes:
      - quantize_weights
    options:
      quantize_weights.scheme: bitmod4
      quantize_weights.group_size: 128

Running it verifies the input graph, then after each pass verifies the result
(a pass that breaks an IR rule is reported by name), records the pass's wall time
and whether it changed the graph, and, when asked, writes the text form of the
graph after each pass to `NNN_<pass>.txt` in a folder (TVM's DumpIR, readable back
with `ir.parse`). The passes of one run share one `PassContext`, so what an
analysis pass stores there (calibrate's statistics) reaches the passes after it.
Every problem in a pipeline file — unknown pass, unknown or
ill-typed option, a pass listed before one it requires — is a one-line
`PassError` naming the file and line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from bitsmith.ir.errors import VerifyError
from bitsmith.ir.graph import Graph
from bitsmith.passes.base import AnalysisStore, ExampleInputs, GraphPass, PassContext, PassError, PassOptions, get_pass
from bitsmith.targets import Target
from bitsmith.targets.document import Document, Mark, dotted, read_yaml_file

_PIPELINE_KEYS = ("passes", "options")


@dataclass(frozen=True)
class PassRecord:
    """One pass as it ran: name, wall time, and whether the graph changed."""

    name: str
    seconds: float
    changed: bool


@dataclass(frozen=True)
class PipelineResult:
    """The final graph, how each pass ran, and the analyses the passes stored."""

    graph: Graph
    records: tuple[PassRecord, ...]
    analyses: AnalysisStore

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)


@dataclass(frozen=True)
class Pipeline:
    """Passes in order and the options of each (see the module docstring)."""

    passes: tuple[GraphPass, ...]
    settings: dict[type[PassOptions], PassOptions] = field(default_factory=dict)

    @classmethod
    def of(cls, names: Sequence[str], options: Mapping[str, object] | None = None, *,
           origin: str = "pipeline") -> Pipeline:
        """A pipeline from pass names and namespaced options (`{"quantize_weights.scheme": "int4"}`)."""
        return _build(list(names), dict(options or {}), Document({}, {(): Mark(origin)}), origin)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Pipeline:
        origin = os.fspath(path)
        document = read_yaml_file(path, "passes and options", PassError)
        data = document.data
        unknown = sorted(set(data) - set(_PIPELINE_KEYS))
        if unknown:
            raise PassError(f"{document.locate((unknown[0],))}: unknown key {unknown[0]!r}; "
                            f"a pipeline file has {', '.join(_PIPELINE_KEYS)}")
        names, options = data.get("passes"), data.get("options") or {}
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PassError(f"{document.locate(('passes',))}: passes: must be a list of pass names")
        if not isinstance(options, dict):
            raise PassError(f"{document.locate(('options',))}: options: must be a mapping of pass.option: value")
        return _build(names, options, document, origin)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.passes)

    def run(self, graph: Graph, target: Target | None = None, *, inputs: ExampleInputs | None = None,
            dump_ir: str | os.PathLike[str] | None = None) -> PipelineResult:
        """Run every pass on `graph`; `inputs` (by name or in graph-input order) are
        the example inputs calibrate runs; see the module docstring."""
        _verified(graph, "the input graph")
        context = PassContext(target, self.settings, inputs)
        folder = None if dump_ir is None else Path(dump_ir)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "000_input.txt").write_text(str(graph) + "\n")
        records = []
        for index, graph_pass in enumerate(self.passes, start=1):
            start = time.perf_counter()
            result = graph_pass.run(graph, context)
            seconds = time.perf_counter() - start
            _verified(result, f"pass {graph_pass.name}")
            records.append(PassRecord(graph_pass.name, seconds, result is not graph))
            if folder is not None:
                (folder / f"{index:03d}_{graph_pass.name}.txt").write_text(str(result) + "\n")
            graph = result
        return PipelineResult(graph, tuple(records), context.analyses)


def _verified(graph: Graph, what: str) -> None:
    if not isinstance(graph, Graph):
        raise PassError(f"{what} returned {type(graph).__name__}, not a Graph")
    try:
        graph.verify()
    except VerifyError as err:
        raise PassError(f"{what} produced an invalid graph: {err}") from None


def _build(names: list[str], options: dict[str, object], document: Document, origin: str) -> Pipeline:
    passes = []
    for i, name in enumerate(names):
        try:
            graph_pass = get_pass(name)
        except PassError as err:
            raise PassError(f"{document.locate(('passes', i))}: {err}") from None
        missing = [r for r in graph_pass.requires if r not in names[:i]]
        if missing:
            raise PassError(f"{document.locate(('passes', i))}: pass {name} requires {missing[0]} to run before it")
        passes.append(graph_pass)
    return Pipeline(tuple(passes), _settings(passes, options, document))


def _settings(passes: list[GraphPass], options: dict[str, object], document: Document
              ) -> dict[type[PassOptions], PassOptions]:
    """Each listed pass's options model built from the namespaced keys."""
    by_pass: dict[str, dict[str, object]] = {}
    for key, value in options.items():
        where = document.locate(("options", key))
        name, _, option = str(key).partition(".")
        if not option:
            raise PassError(f"{where}: option {key!r} must be written pass.option")
        owner = next((p for p in passes if p.name == name), None)
        if owner is None:
            raise PassError(f"{where}: option {key!r} is for pass {name!r}, which the pipeline does not run")
        if owner.options is None:
            raise PassError(f"{where}: pass {name} takes no options")
        by_pass.setdefault(name, {})[option] = value
    settings: dict[type[PassOptions], PassOptions] = {}
    for graph_pass in passes:
        if graph_pass.options is None:
            continue
        given = by_pass.get(graph_pass.name, {})
        try:
            settings[graph_pass.options] = graph_pass.options.model_validate(given)
        except ValidationError as err:
            first = err.errors()[0]
            key = f"{graph_pass.name}.{dotted(tuple(first['loc']))}"
            where = document.locate(("options", key)) if key in options else document.locate(("options",))
            raise PassError(f"{where}: {key}: {first['msg']}") from None
    return settings
