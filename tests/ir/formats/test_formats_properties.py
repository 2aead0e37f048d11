"""Rounding properties every registered format must have (base.py's docstring):
nearest grid value, ties to the even code (E8M0: ties up), exact round trip of grid
values, saturation past the ends, and the sign of zero kept where a -0 code exists."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bitsmith.ir.formats import format_names, get_format

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = list(format_names())
SATURATING = [n for n in ALL if get_format(n).overflow == "saturate"]
WITH_MINUS_ZERO = [n for n in ALL if any(v == 0 and np.signbit(v) for v in get_format(n).table)]


@pytest.mark.parametrize("name", ALL)
@PROPERTY
@given(data=st.data())
def test_encode_picks_a_nearest_grid_value(name: str, data: st.DataObject) -> None:
    fmt = get_format(name)
    x = data.draw(arrays(np.float64, 16, elements=st.floats(fmt.min, fmt.max)))
    codes = fmt.encode(x)
    assert not np.isin(codes, fmt.reserved).any()
    q = fmt.decode(codes)
    best = np.abs(x[:, None] - fmt.grid[None, :]).min(axis=1)
    np.testing.assert_array_equal(np.abs(x - q), best)


def ties(name: str) -> list[tuple[float, float, float]]:
    """(below, midpoint, above) for each pair of neighbouring grid values whose
    midpoint float64 holds exactly."""
    grid = get_format(name).grid
    out = []
    for a, b in zip(grid[:-1], grid[1:]):
        mid = (a + b) / 2
        if mid - a == b - mid:
            out.append((float(a), float(mid), float(b)))
    return out


@pytest.mark.parametrize("name", ALL)
def test_ties_go_to_the_even_code(name: str) -> None:
    """E8M0 is the documented exception: its ties round up."""
    fmt = get_format(name)
    cases = ties(name)
    assert cases, f"{name}: no exact midpoints to test"
    for below, mid, above in cases:
        code = int(fmt.encode(np.array([mid]))[0])
        value = float(fmt.decode(np.array([code]))[0])
        assert value in (below, above), (name, mid, value)
        if fmt.ties == "up":
            assert value == above, (name, mid, value)
            continue
        lo, hi = (int(c) for c in fmt.encode(np.array([below, above])))
        if (lo % 2 == 0) != (hi % 2 == 0):
            assert code % 2 == 0, f"{name}: tie {mid} between codes {lo} and {hi} went to odd code {code}"


def test_e8m0_is_the_one_format_whose_ties_round_up() -> None:
    assert [n for n in ALL if get_format(n).ties == "up"] == ["e8m0"]


@pytest.mark.parametrize("name", ALL)
def test_grid_values_round_trip_exactly(name: str) -> None:
    fmt = get_format(name)
    np.testing.assert_array_equal(fmt.decode(fmt.encode(fmt.grid)), fmt.grid)


@pytest.mark.parametrize("name", ALL)
def test_every_value_code_round_trips(name: str) -> None:
    """Each finite, non-reserved code encodes back to itself, except that duplicate
    values (±0 without a -0 code to keep) share one code."""
    fmt = get_format(name)
    codes = np.array([c for c in range(1 << fmt.bits) if np.isfinite(fmt.table[c]) and c not in fmt.reserved])
    values = fmt.decode(codes)
    again = fmt.decode(fmt.encode(values))
    np.testing.assert_array_equal(again, values)
    if name in WITH_MINUS_ZERO:
        np.testing.assert_array_equal(fmt.encode(values), codes)


@pytest.mark.parametrize("name", SATURATING)
@PROPERTY
@given(excess=st.floats(0.0, 1e30, exclude_min=True))
def test_out_of_range_saturates(name: str, excess: float) -> None:
    fmt = get_format(name)
    x = np.array([fmt.max + excess, fmt.min - excess, np.inf, -np.inf])
    np.testing.assert_array_equal(fmt.round(x), [fmt.max, fmt.min, fmt.max, fmt.min])


@pytest.mark.parametrize("name", WITH_MINUS_ZERO)
def test_zero_keeps_its_sign(name: str) -> None:
    fmt = get_format(name)
    out = fmt.round(np.array([0.0, -0.0]))
    np.testing.assert_array_equal(np.signbit(out), [False, True])
    np.testing.assert_array_equal(out, [0.0, 0.0])


def test_minifloats_have_a_minus_zero_code() -> None:
    minifloats = [n for n in ALL if get_format(n).family == "float"]
    assert minifloats and set(minifloats) <= set(WITH_MINUS_ZERO)
