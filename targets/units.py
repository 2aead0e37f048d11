"""Physical quantities written with their unit: `512KiB`, `1GHz`, `18.75pJ/bit`.

Target files write every dimensioned number as text carrying its unit, so a reader
never has to guess whether `512` meant bytes or kibibytes. `parse_quantity` is the
one place that text becomes a number: it scales by exact decimal arithmetic into the
dimension's canonical unit (`1.83GHz` is exactly 1830000000 Hz, `1KiB` equals
`1024B`), so quantities compare equal however they were written.

Canonical units: Hz, B (data), B/cycle, B/s, pJ, pJ/bit, um2, nm, W. `µ`/`μ` may be
written for `u` and `²` for `2`; a space between number and unit is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from enum import Enum

from bitsmith.targets.errors import TargetError


class UnitError(TargetError, ValueError):
    """Text that is not a number with a known unit of the expected dimension.

    It is a `ValueError` as well, so a schema validator can raise it and have it
    reported against the field being validated."""


class Dimension(Enum):
    """What a quantity measures; the value is (canonical unit, what to call it)."""

    FREQUENCY = ("Hz", "frequency")
    DATA = ("B", "data size")
    BANDWIDTH_PER_CYCLE = ("B/cycle", "bandwidth per cycle")
    BANDWIDTH = ("B/s", "bandwidth")
    ENERGY = ("pJ", "energy")
    ENERGY_PER_BIT = ("pJ/bit", "energy per bit")
    AREA = ("um2", "area")
    LENGTH = ("nm", "length")
    POWER = ("W", "power")

    def __init__(self, canonical: str, label: str) -> None:
        self.canonical = canonical
        self.label = label

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(symbol for symbol, (dim, _) in _UNITS.items() if dim is self)


_D = Decimal
# unit symbol -> (dimension, size of one of it in the canonical unit)
_UNITS: dict[str, tuple[Dimension, Decimal]] = {
    "Hz": (Dimension.FREQUENCY, _D(1)),
    "kHz": (Dimension.FREQUENCY, _D(10) ** 3),
    "MHz": (Dimension.FREQUENCY, _D(10) ** 6),
    "GHz": (Dimension.FREQUENCY, _D(10) ** 9),
    "bit": (Dimension.DATA, _D("0.125")),
    "B": (Dimension.DATA, _D(1)),
    "KiB": (Dimension.DATA, _D(2) ** 10),
    "MiB": (Dimension.DATA, _D(2) ** 20),
    "GiB": (Dimension.DATA, _D(2) ** 30),
    "TiB": (Dimension.DATA, _D(2) ** 40),
    "kB": (Dimension.DATA, _D(10) ** 3),
    "MB": (Dimension.DATA, _D(10) ** 6),
    "GB": (Dimension.DATA, _D(10) ** 9),
    "TB": (Dimension.DATA, _D(10) ** 12),
    "bit/cycle": (Dimension.BANDWIDTH_PER_CYCLE, _D("0.125")),
    "B/cycle": (Dimension.BANDWIDTH_PER_CYCLE, _D(1)),
    "B/s": (Dimension.BANDWIDTH, _D(1)),
    "MB/s": (Dimension.BANDWIDTH, _D(10) ** 6),
    "GB/s": (Dimension.BANDWIDTH, _D(10) ** 9),
    "TB/s": (Dimension.BANDWIDTH, _D(10) ** 12),
    "fJ": (Dimension.ENERGY, _D("0.001")),
    "pJ": (Dimension.ENERGY, _D(1)),
    "nJ": (Dimension.ENERGY, _D(10) ** 3),
    "uJ": (Dimension.ENERGY, _D(10) ** 6),
    "fJ/bit": (Dimension.ENERGY_PER_BIT, _D("0.001")),
    "pJ/bit": (Dimension.ENERGY_PER_BIT, _D(1)),
    "pJ/B": (Dimension.ENERGY_PER_BIT, _D("0.125")),
    "um2": (Dimension.AREA, _D(1)),
    "mm2": (Dimension.AREA, _D(10) ** 6),
    "nm": (Dimension.LENGTH, _D(1)),
    "um": (Dimension.LENGTH, _D(10) ** 3),
    "mW": (Dimension.POWER, _D("0.001")),
    "W": (Dimension.POWER, _D(1)),
}

_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*)")


@dataclass(frozen=True)
class Quantity:
    """A value in its dimension's canonical unit. `text` keeps how it was written
    (for printing and for writing a target back out); equality ignores it."""

    value: float
    dimension: Dimension
    text: str = field(default="", compare=False, repr=False)

    def to(self, unit: str) -> float:
        """This quantity as a plain number of `unit` (which must measure the same thing)."""
        dimension, factor = _lookup(unit)
        if dimension is not self.dimension:
            raise UnitError(f"cannot express {self} ({self.dimension.label}) in {unit} ({dimension.label})")
        return float(Decimal(repr(self.value)) / factor)

    def __str__(self) -> str:
        return self.text or format_quantity(self.value, self.dimension)


def parse_quantity(text: str, *dimensions: Dimension) -> Quantity:
    """Parse `text` such as `512KiB` or `18.75 pJ/bit`; with `dimensions`, the unit
    must measure one of them. Raises `UnitError` naming the text and the valid units."""
    if not isinstance(text, str):
        raise UnitError(f"expected a number with a unit, got {text!r}")
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise UnitError(f"{text!r} is not a number followed by a unit{_expected(dimensions)}")
    number, unit = match.groups()
    if not unit:
        raise UnitError(f"{text!r} has no unit{_expected(dimensions)}")
    dimension, factor = _lookup(unit, dimensions)
    if dimensions and dimension not in dimensions:
        raise UnitError(f"{text!r} measures {dimension.label}{_expected(dimensions)}")
    try:
        exact = Decimal(number) * factor
    except DecimalException:
        raise UnitError(f"{text!r}: number out of range") from None
    value = float(exact)
    if not math.isfinite(value) or (value == 0 and exact != 0):
        raise UnitError(f"{text!r}: number out of range")
    return Quantity(value, dimension, text.strip())


def format_quantity(value: float, dimension: Dimension) -> str:
    """`value` (canonical unit) as text that parses back to exactly `value`: in the
    canonical unit when its number lies in [1, 1000) or no unit's does, else in the
    unit giving the shortest such number (`524288B` prints as `512KiB`)."""
    if not math.isfinite(value):
        return f"{value!r}{dimension.canonical}"
    exact: dict[str, tuple[Decimal, str]] = {}
    for symbol in dimension.units:
        scaled = Decimal(repr(value)) / _UNITS[symbol][1]
        text = f"{_plain(scaled)}{symbol}"
        if parse_quantity(text).value == value:
            exact[symbol] = (scaled, text)
    in_range = [text for scaled, text in exact.values() if 1 <= abs(scaled) < 1000]
    canonical = exact.get(dimension.canonical)
    if canonical is not None and (canonical[1] in in_range or not in_range):
        return canonical[1]
    pool = in_range or [text for _, text in exact.values()]
    return min(pool, key=len) if pool else f"{value!r}{dimension.canonical}"


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text[:-2] if text.endswith(".0") else text


def _lookup(unit: str, dimensions: tuple[Dimension, ...] = ()) -> tuple[Dimension, Decimal]:
    symbol = unit.strip().replace("µ", "u").replace("μ", "u").replace("²", "2").replace("^2", "2")
    try:
        return _UNITS[symbol]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r}{_expected(dimensions)}") from None


def _expected(dimensions: tuple[Dimension, ...]) -> str:
    if not dimensions:
        return f"; known units: {', '.join(_UNITS)}"
    return "; expected " + " or ".join(f"{d.label} in {', '.join(d.units)}" for d in dimensions)
