"""The design space of a sweep: one axis per hardware field and per quantisation
choice, a point as one value index per axis, and the hash that names a point in
the result store.

A point's hash covers everything its figures depend on: the base target as
resolved (every field, after `extends:`), the point's value on every axis, the
workloads, the accuracy proxy and the bitsmith version. Objectives, constraints
and the search strategy are left out, so changing them re-ranks stored points
instead of recomputing them; a new bitsmith version recomputes everything, since
its models may cost the same design differently.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version

from bitsmith.dse.spec import Sweep
from bitsmith.targets import Accelerator

Genome = tuple[int, ...]  # one value index per axis
Config = dict[str, object]  # axis name -> value

BITSMITH_VERSION = version("bitsmith")
QUANT_AXES = ("formats", "group_size", "bit_budget")
_SHAPE_FIELDS = ("rows", "cols")


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[object, ...]


@dataclass(frozen=True)
class Space:
    """The axes of `sweep`, hardware fields first (file order), then `QUANT_AXES`."""

    sweep: Sweep

    @cached_property
    def axes(self) -> tuple[Axis, ...]:
        spec = self.sweep.spec
        hardware = [Axis(key, tuple(values)) for key, values in spec.hardware.items()]
        quant = spec.quantisation
        return (*hardware, Axis("formats", tuple(tuple(s) for s in quant.formats)),
                Axis("group_size", tuple(quant.group_size)), Axis("bit_budget", tuple(quant.bit_budget)))

    @property
    def size(self) -> int:
        return math.prod(len(axis.values) for axis in self.axes)

    def grid(self) -> Iterator[Genome]:
        """Every point, the last axis varying fastest."""
        return itertools.product(*(range(len(axis.values)) for axis in self.axes))

    def config(self, genome: Genome) -> Config:
        return {axis.name: axis.values[i] for axis, i in zip(self.axes, genome, strict=True)}

    @cached_property
    def context(self) -> dict[str, object]:
        """What every point's hash shares (module docstring)."""
        spec = self.sweep.spec
        return {"version": BITSMITH_VERSION, "base": self.sweep.base.to_document(),
                "workloads": [w.model_dump() for w in spec.workloads], "accuracy": spec.accuracy}

    def point_hash(self, config: Config) -> str:
        return config_hash(self.context, config)


def config_hash(context: Mapping[str, object], config: Config) -> str:
    """SHA-256 of the canonical JSON of a point's full configuration."""
    text = json.dumps({**context, "config": config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def hardware_changes(config: Mapping[str, object]) -> dict[str, object]:
    """The target overrides of a point's hardware axes (a mapping value's `label`
    dropped: it names the variant in tables). A point that sets the
    array's rows or columns also drops the base's per-phase arrangements
    (`pe_array.phases`): a phase re-arranges the same PEs, so a new PE count
    makes them invalid, and the swept shape then serves both phases."""
    # whole blocks first, so a dotted field overrides inside a block a mapping value swaps in
    changes = {key: _unlabelled(config[key]) for key in sorted(config, key=lambda k: k.count("."))
               if key not in QUANT_AXES}
    reshaped = any(key in (f"pe_array.{f}" for f in _SHAPE_FIELDS) for key in changes) or any(
        isinstance(changes.get("pe_array"), Mapping) and f in changes["pe_array"] for f in _SHAPE_FIELDS)
    if reshaped:
        changes["pe_array.phases"] = None
    return changes


def _unlabelled(value: object) -> object:
    """A mapping value without its `label` (a name for tables, not a target field)."""
    return {k: v for k, v in value.items() if k != "label"} if isinstance(value, Mapping) else value


def point_target(base: Accelerator, config: Config) -> Accelerator:
    """The base target with a point's hardware values and weight formats; raises
    TargetError when the combination is not a valid target."""
    formats = list(config["formats"])
    changes = {**hardware_changes(config), "formats.weights": formats, "formats.default_weights": formats[0],
               "formats.group_size": config["group_size"]}
    return base.override(changes)


def label(value: object) -> str:
    """A value as a table cell: format sets joined with '+', a mapping by its
    `label`, else as k=v."""
    if isinstance(value, tuple | list):
        return "+".join(map(str, value))
    if isinstance(value, Mapping) and "label" in value:
        return str(value["label"])
    if isinstance(value, Mapping):
        return ",".join(f"{k}={label(v)}" for k, v in value.items())
    return "null" if value is None else str(value)
