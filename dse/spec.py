"""A sweep description, `dse.yaml`, read and checked like a target file.

    name: tiny_codesign
    base: bitmod                      # a shipped target, or a path beside this file
    hardware:                         # dotted target field -> the values to try
      pe_array.rows: [16, 32, 64]
      dram.bandwidth: [16B/cycle, 32B/cycle]
      pe_array:                       # a mapping value merges into the block: swap PE kinds whole
        - {pe: bit_serial, bits_per_cycle: 2}
        - {pe: mac, bits_per_cycle: null}
    quantisation:
      formats: [[int4], [int8], [bitmod4, int8]]   # weight format sets; the first is the default
      group_size: [64, 128]           # null: one scale per output channel
      bit_budget: [null, 4.5]         # null: uniform in the default; a number: allocate_bits over the set
    workloads:                        # every point runs all of them; latency and energy add up
      - {model: llama-tiny, phase: prefill, seq_len: 16}
    objectives: [latency, energy, accuracy]
    accuracy: sqnr                    # or minilm_cosine
    constraints: {area: {max: 2.0}}
    search: {strategy: nsga2, budget: 200, seed: 0, population: 32}

Every problem is a one-line `SweepError` naming file, line and field, the way
target files report theirs (`targets/document.py` keeps the line of every key).
Each hardware value is tried on the base target when the file is read, so a bad
value is reported at its own line rather than as hundreds of failed points.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, PlainValidator, model_validator

from bitsmith.ir.errors import BitsmithError
from bitsmith.targets import Accelerator, TargetError, load_target
from bitsmith.targets.base import Block
from bitsmith.targets.document import Document, dotted, read_yaml_file
from bitsmith.targets.fields import Count, FormatName, Identifier, Text, field_error, show
from bitsmith.targets.validation import model_at, validated


class SweepError(BitsmithError):
    """A sweep file, store or cluster is wrong; one line, naming the file and line where there is one."""


# Objective name -> (stored metric column, unit, whether larger is better).
OBJECTIVES: dict[str, tuple[str, str, bool]] = {
    "latency": ("latency_s", "s", False),
    "energy": ("energy_j", "J", False),
    "area": ("area_mm2", "mm²", False),
    "edp": ("edp_js", "J·s", False),
    "accuracy": ("accuracy", "dB or cosine", True),
}
ObjectiveName = Literal["latency", "energy", "area", "edp", "accuracy"]
# Target fields the quantisation section sets, so a hardware axis may not.
QUANTISATION_FIELDS = ("formats.weights", "formats.default_weights", "formats.group_size")


def _group_size(value: object) -> int | None:
    if value is not None and (type(value) is not int or value <= 0):
        raise ValueError(f"must be a positive integer or null, got {show(value)}")
    return value


def _budget(value: object) -> float | None:
    if value is not None and (type(value) not in (int, float) or not value > 0):
        raise ValueError(f"must be average bits per weight (a positive number) or null, got {show(value)}")
    return None if value is None else float(value)


GroupSize = Annotated[int | None, PlainValidator(_group_size)]
BitBudget = Annotated[float | None, PlainValidator(_budget)]


class Workload(Block):
    """One model run: a zoo name, phase and lengths (None: the model's default)."""

    model: Text
    phase: Literal["prefill", "decode"] = "prefill"
    seq_len: Count | None = None
    batch: Count | None = None

    @property
    def label(self) -> str:
        lengths = "".join(f" {k}={v}" for k, v in (("seq_len", self.seq_len), ("batch", self.batch)) if v)
        return f"{self.model} {self.phase}{lengths}"


class Quantisation(Block):
    formats: list[list[FormatName]]
    group_size: list[GroupSize] = Field(default_factory=lambda: [128])
    bit_budget: list[BitBudget] = Field(default_factory=lambda: [None])

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        for name in ("formats", "group_size", "bit_budget"):
            if not getattr(self, name):
                raise field_error(name, "must list at least one choice")
        for i, names in enumerate(self.formats):
            if not names:
                raise field_error(f"formats.{i}", "a format set must name at least one format")
        return self


class Bound(Block):
    min: float | int | None = None
    max: float | int | None = None


class Search(Block):
    strategy: Literal["grid", "random", "nsga2"] = "grid"
    budget: Count | None = None  # points to evaluate (grid: the first N in order)
    seed: int = 0
    population: Count = 32


class SweepSpec(Block):
    """The validated sweep (module docstring). `hardware` keeps file order."""

    name: Identifier
    description: Text | None = None
    base: Text
    hardware: dict[str, list[object]] = Field(default_factory=dict)
    quantisation: Quantisation
    workloads: list[Workload]
    objectives: list[ObjectiveName]
    accuracy: Literal["sqnr", "minilm_cosine"] = "sqnr"
    constraints: dict[ObjectiveName, Bound] = Field(default_factory=dict)
    search: Search = Field(default_factory=Search)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.workloads:
            raise field_error("workloads", "must list at least one workload")
        if len(set(self.objectives)) != len(self.objectives) or len(self.objectives) < 2:
            raise field_error("objectives", "must name at least two different objectives")
        return self


@dataclass(frozen=True)
class Sweep:
    """A sweep ready to run: the spec, its base target, and where it came from."""

    spec: SweepSpec
    base: Accelerator
    origin: str


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read and check `path` (module docstring); raises a one-line SweepError."""
    origin = os.fspath(path)
    document = read_yaml_file(path, "sweep fields", SweepError)
    try:
        spec = validated(SweepSpec.model_validate, document, SweepSpec)
    except TargetError as err:
        raise SweepError(str(err)) from None
    base = _base_target(spec, document, Path(path).parent)
    _check_hardware(spec, document, base)
    return Sweep(spec, base, origin)


def _base_target(spec: SweepSpec, document: Document, folder: Path) -> Accelerator:
    where = document.locate(("base",))
    ref = spec.base
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        ref = str(folder / ref)
    try:
        target = load_target(ref)
    except TargetError as err:
        raise SweepError(f"{where}: base: {err}") from None
    if not isinstance(target, Accelerator):
        raise SweepError(f"{where}: base: {target.name} is a {target.kind} target; a sweep needs an accelerator")
    return target


def _check_hardware(spec: SweepSpec, document: Document, base: Accelerator) -> None:
    """Every hardware key names a target field, and each value alone makes a valid
    target from the base (shape changes drop the base's per-phase arrangement, as
    `space.point_target` does)."""
    from bitsmith.dse.space import hardware_changes

    for key, values in spec.hardware.items():
        where = document.locate(("hardware", key))
        parts = tuple(key.split("."))
        parent = model_at(Accelerator, parts[:-1]) if all(parts) else None
        if parent is None or parts[-1] not in parent.model_fields:
            raise SweepError(f"{where}: hardware.{key}: not a field of an accelerator target")
        if any(key == f or f.startswith(key + ".") for f in QUANTISATION_FIELDS):
            raise SweepError(f"{where}: hardware.{key}: weight formats and group size are set by quantisation:")
        if not values:
            raise SweepError(f"{where}: hardware.{key}: must list at least one value")
        for i, value in enumerate(values):
            try:
                base.override(hardware_changes({key: value}))
            except TargetError as err:
                line = document.locate(("hardware", key, i))
                reason = str(err).split(": ", 1)[-1]
                raise SweepError(f"{line}: {dotted(('hardware', key, i))}: {reason}") from None
