"""Field types of the target schema, each with a validator whose message reads as
the end of `file:line: field: ...`.

Validation is strict on purpose: YAML's `true` is not the count 1, `"64"` is not
64, and a bare `512` is not a size, because silently coercing such values is how
a wrong target gets simulated without anyone noticing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

from bitsmith.ir.dtypes import dtype
from bitsmith.ir.formats import UnknownFormatError, get_format
from bitsmith.ir.formats.schemes import resolve_scheme
from bitsmith.targets.units import Dimension, Quantity, parse_quantity

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


def show(value: object) -> str:
    """A value as an error message quotes it (YAML's spelling for true, false and
    null), cut to one short line."""
    if value is None:
        text = "null"
    elif type(value) is bool:
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error a model-level check reports against one of its fields (a dotted
    path below the model), so the message can name the exact key."""
    return PydanticCustomError("target", "{message}", {"message": message, "field": field})


def _count(value: object) -> int:
    if type(value) is not int or value <= 0:
        raise ValueError(f"must be a positive integer, got {show(value)}")
    return value


def _factor(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 1:
        raise ValueError(f"must be a number of at least 1, got {show(value)}")
    return float(value)


def _text(value: object) -> str:
    if type(value) is not str or not value.strip():
        raise ValueError(f"must be non-empty text, got {show(value)}")
    return value


def _identifier(value: object) -> str:
    if type(value) is not str or not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"must be a lower-case name of letters, digits and _, got {show(value)}")
    return value


def _format_name(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"must be a number-format name, got {show(value)}")
    format_bits(value)
    return value


def format_bits(name: str) -> int:
    """Bits per element of a format a target may name: an element format
    (`int4`, `fp4_e2m1`), a per-group mixture (`bitmod4`, `int4_sym+nf4`: its
    widest candidate), an MX format (`mxfp4`: its element), an OliVe scheme
    (`olive4`: 4, outliers in-band) or a wide IR type (`f16`, `bf16`, `i16`).
    Raises ValueError for any other name."""
    try:
        return max(get_format(member).bits for member in resolve_scheme(name, where=f"format {name!r}").formats)
    except UnknownFormatError:
        pass
    try:
        wide = dtype(name)
    except KeyError:
        wide = None
    if wide is None or wide.kind == "bool":
        raise ValueError(f"unknown format {name!r} (see `bitsmith formats`; wide types: f16, bf16, f32, i16, i32)")
    return wide.bits


Count = Annotated[int, PlainValidator(_count)]
Factor = Annotated[float, PlainValidator(_factor)]
Text = Annotated[str, PlainValidator(_text)]
Identifier = Annotated[str, PlainValidator(_identifier)]
FormatName = Annotated[str, PlainValidator(_format_name)]


_EXAMPLES = {Dimension.FREQUENCY: "1GHz", Dimension.DATA: "512KiB", Dimension.BANDWIDTH_PER_CYCLE: "32B/cycle",
             Dimension.BANDWIDTH: "3.35TB/s", Dimension.ENERGY: "0.56pJ", Dimension.ENERGY_PER_BIT: "18.75pJ/bit",
             Dimension.AREA: "1507.7um2", Dimension.LENGTH: "28nm", Dimension.POWER: "700W"}


def _positive(*dimensions: Dimension) -> Callable[[object], Quantity]:
    """A validator for a positive quantity measuring one of `dimensions`."""
    example = _EXAMPLES[dimensions[0]]

    def validate(value: object) -> Quantity:
        if isinstance(value, Quantity):
            if value.dimension not in dimensions:
                raise ValueError(f"{value} measures {value.dimension.label}, expected {dimensions[0].label}")
            quantity = value
        elif type(value) is str:
            quantity = parse_quantity(value, *dimensions)
        elif type(value) in (int, float):
            raise ValueError(f"needs a unit, e.g. {example!r}, got {show(value)}")
        else:
            raise ValueError(f"must be a number with a unit, e.g. {example!r}, got {show(value)}")
        if quantity.value <= 0:
            raise ValueError(f"must be positive, got {str(quantity)!r}")
        return quantity

    return validate


_AS_TEXT = PlainSerializer(str)  # written back to YAML as the text it was read from
Frequency = Annotated[Quantity, PlainValidator(_positive(Dimension.FREQUENCY)), _AS_TEXT]
DataSize = Annotated[Quantity, PlainValidator(_positive(Dimension.DATA)), _AS_TEXT]
Energy = Annotated[Quantity, PlainValidator(_positive(Dimension.ENERGY)), _AS_TEXT]
EnergyPerBit = Annotated[Quantity, PlainValidator(_positive(Dimension.ENERGY_PER_BIT)), _AS_TEXT]
Area = Annotated[Quantity, PlainValidator(_positive(Dimension.AREA)), _AS_TEXT]
Length = Annotated[Quantity, PlainValidator(_positive(Dimension.LENGTH)), _AS_TEXT]
Power = Annotated[Quantity, PlainValidator(_positive(Dimension.POWER)), _AS_TEXT]
Bandwidth = Annotated[Quantity, PlainValidator(_positive(Dimension.BANDWIDTH)), _AS_TEXT]
# DRAM bandwidth may be per cycle (BitMoD's 32B/cycle) or per second (a datasheet's GB/s)
AnyBandwidth = Annotated[Quantity, PlainValidator(_positive(Dimension.BANDWIDTH_PER_CYCLE, Dimension.BANDWIDTH)),
                         _AS_TEXT]
