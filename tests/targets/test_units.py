"""The unit parser: exact scaling into canonical units, text that reads back to the
same quantity, and a UnitError (never another exception) for anything else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitsmith.targets import Dimension, TargetError, UnitError, parse_quantity
from bitsmith.targets.units import format_quantity

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNITS = [(dimension, unit) for dimension in Dimension for unit in dimension.units]


@pytest.mark.parametrize(("text", "dimension", "canonical"), [
    ("512KiB", Dimension.DATA, 524288),
    ("256bit", Dimension.DATA, 32),
    ("1GHz", Dimension.FREQUENCY, 1e9),
    ("1.83GHz", Dimension.FREQUENCY, 1_830_000_000),
    ("18.75pJ/bit", Dimension.ENERGY_PER_BIT, 18.75),
    ("150pJ/B", Dimension.ENERGY_PER_BIT, 18.75),
    ("1507.7um2", Dimension.AREA, 1507.7),
    ("1507.7 µm²", Dimension.AREA, 1507.7),
    ("1.54mm2", Dimension.AREA, 1_540_000),
    ("0.56pJ", Dimension.ENERGY, 0.56),
    ("28nm", Dimension.LENGTH, 28),
    ("32B/cycle", Dimension.BANDWIDTH_PER_CYCLE, 32),
    ("256bit/cycle", Dimension.BANDWIDTH_PER_CYCLE, 32),
    ("3.35TB/s", Dimension.BANDWIDTH, 3.35e12),
    ("700W", Dimension.POWER, 700),
])
def test_parses_into_the_canonical_unit(text: str, dimension: Dimension, canonical: float) -> None:
    quantity = parse_quantity(text)
    assert quantity.dimension is dimension
    assert quantity.value == canonical
    assert str(quantity) == text.strip()


@pytest.mark.parametrize("text", ["512", "512 furlongs", "KiB", "", "1..2GHz", "inf GHz", "nanpJ", "1e999999999GHz"])
def test_rejects_text_that_is_not_a_number_with_a_known_unit(text: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_quantity(text)
    assert isinstance(info.value, TargetError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_a_unit_of_the_wrong_dimension_names_what_was_expected() -> None:
    with pytest.raises(UnitError, match=r"'512GHz' measures frequency; expected data size in bit, B, KiB"):
        parse_quantity("512GHz", Dimension.DATA)


def test_converts_only_between_units_of_one_dimension() -> None:
    assert parse_quantity("1GHz").to("MHz") == 1000
    assert parse_quantity("512KiB").to("bit") == 512 * 1024 * 8
    with pytest.raises(UnitError, match="cannot express"):
        parse_quantity("1GHz").to("B")


@PROPERTY
@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(UNITS))
def test_a_number_of_a_unit_converts_back_to_that_number(number: int, dimension_unit: tuple[Dimension, str]) -> None:
    dimension, unit = dimension_unit
    quantity = parse_quantity(f"{number}{unit}", dimension)
    assert quantity.dimension is dimension
    assert quantity.to(unit) == pytest.approx(number, rel=1e-15)


@PROPERTY
@given(st.integers(min_value=0, max_value=10**9))
def test_binary_and_decimal_prefixes_scale_exactly(n: int) -> None:
    assert parse_quantity(f"{n}KiB") == parse_quantity(f"{n * 1024}B")
    assert parse_quantity(f"{n}MiB") == parse_quantity(f"{n * 1024}KiB")
    assert parse_quantity(f"{n}kB") == parse_quantity(f"{n * 1000}B")
    assert parse_quantity(f"{n}GHz") == parse_quantity(f"{n * 1000}MHz")
    assert parse_quantity(f"{n}B") == parse_quantity(f"{n * 8}bit")
    assert parse_quantity(f"{n}mm2") == parse_quantity(f"{n * 10**6}um2")


@PROPERTY
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False),
       st.sampled_from(UNITS), st.sampled_from(["", " ", "  "]))
def test_spacing_and_spelling_do_not_change_the_quantity(number, dimension_unit, space: str) -> None:
    _, unit = dimension_unit
    assert parse_quantity(f"{number}{space}{unit}") == parse_quantity(f" {number}{unit} ")


@PROPERTY
@given(st.floats(min_value=1e-6, max_value=1e15, allow_nan=False), st.sampled_from(list(Dimension)))
def test_formatted_text_parses_back_to_the_same_value(value: float, dimension: Dimension) -> None:
    text = format_quantity(value, dimension)
    assert parse_quantity(text, dimension).value == value


@PROPERTY
@given(st.text(max_size=20), st.sampled_from([(), (Dimension.DATA,), (Dimension.FREQUENCY, Dimension.POWER)]))
def test_any_text_parses_or_raises_unit_error(text: str, dimensions: tuple[Dimension, ...]) -> None:
    try:
        quantity = parse_quantity(text, *dimensions)
    except UnitError as err:
        assert "\n" not in str(err)
    else:
        assert not dimensions or quantity.dimension in dimensions
