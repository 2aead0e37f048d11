"""What a pass is: a named graph-to-graph function with declared options and
prerequisites, registered by name so pipelines can list passes in YAML.

A pass is written as a plain function and declared with `@graph_pass`:

    class QuantizeOptions(PassOptions):
        scheme: str = "int8_sym"
        group_size: int | None = 128

    @graph_pass("quantize_weights", options=QuantizeOptions)
    def quantize_weights_pass(graph: Graph, ctx: PassContext) -> Graph:
        opts = ctx.options(QuantizeOptions)
        ...

Options are a typed pydantic model per pass, addressed in a pipeline's config by
namespaced keys (`quantize_weights.group_size: 64`), so a setting is checked where
it is written and never relayed through **kwargs. `requires` names passes that
must run earlier in the same pipeline; the pipeline checks the order before it
runs anything. A pass returns a new graph, or the same object when it changed
nothing (graphs are frozen).

Analyses — facts a pass learns about the graph that a later pass needs, such as
calibrate's activation statistics — live beside the graph, not in it, so the IR
and its JSON stay as they are: the pipeline makes one `PassContext` per run, and
a pass stores a typed result in it (`ctx.analyses.put(calibration)`) that later
passes read back by type (`ctx.analyses.get(Calibration)`, None when no pass
produced one). Example inputs given to the run are on the context as
`ctx.example_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from pydantic import BaseModel, ConfigDict

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.graph import Graph
from bitsmith.targets import Target


class PassError(BitsmithError):
    """A pass or pipeline problem (unknown pass, bad option, a pass that broke the
    graph); the message is one line naming the pass and, for files, the line."""


class PassOptions(BaseModel):
    """Base of every pass's options: strict, frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


O = TypeVar("O", bound=PassOptions)
A = TypeVar("A")

ExampleInputs = Mapping[str, np.ndarray] | Sequence[np.ndarray]


class AnalysisStore:
    """Analyses of one pipeline run, one per type: the type is the key, so a reader
    gets back exactly the class it asks for, never a loosely typed dict entry."""

    def __init__(self) -> None:
        self._found: dict[type, object] = {}

    def put(self, analysis: object) -> None:
        """Store `analysis`, replacing an earlier one of the same type."""
        self._found[type(analysis)] = analysis

    def get(self, kind: type[A]) -> A | None:
        """The stored analysis of type `kind`, or None if no pass produced one."""
        found = self._found.get(kind)
        return found if isinstance(found, kind) else None


@dataclass(frozen=True)
class PassContext:
    """What a pass may read besides the graph: the target (None when compiling
    without one), every pass's options (`options(MyOptions)`), the run's example
    inputs (None when none were given) and the analyses earlier passes stored."""

    target: Target | None = None
    settings: dict[type[PassOptions], PassOptions] = field(default_factory=dict)
    example_inputs: ExampleInputs | None = None
    analyses: AnalysisStore = field(default_factory=AnalysisStore)

    def options(self, kind: type[O]) -> O:
        """This pass's options: as configured, or the defaults."""
        found = self.settings.get(kind)
        return found if isinstance(found, kind) else kind()


PassFunction = Callable[[Graph, PassContext], Graph]


@dataclass(frozen=True)
class GraphPass:
    """A registered pass: its name, function, options model and prerequisites."""

    name: str
    run: PassFunction
    options: type[PassOptions] | None = None
    requires: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The first line of the pass function's docstring."""
        return (self.run.__doc__ or "").strip().splitlines()[0] if self.run.__doc__ else ""


_REGISTRY: dict[str, GraphPass] = {}


def graph_pass(name: str, *, options: type[PassOptions] | None = None,
               requires: tuple[str, ...] = ()) -> Callable[[PassFunction], PassFunction]:
    """Register the decorated function as pass `name` (see the module docstring)."""

    def register(fn: PassFunction) -> PassFunction:
        if name in _REGISTRY:
            raise ValueError(f"pass {name!r} is registered twice")
        _REGISTRY[name] = GraphPass(name, fn, options, tuple(requires))
        return fn

    return register


def get_pass(name: str) -> GraphPass:
    """The pass called `name`; a one-line PassError lists the valid names otherwise."""
    _load_builtin_passes()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PassError(f"unknown pass {name!r}; valid: {', '.join(sorted(_REGISTRY))}") from None


def pass_names() -> list[str]:
    _load_builtin_passes()
    return sorted(_REGISTRY)


def _load_builtin_passes() -> None:
    """Import the modules that register bitsmith's own passes (on first use, so
    importing `passes.base` stays cheap)."""
    from bitsmith.passes import pipelines  # noqa: F401  (imports every built-in pass)
