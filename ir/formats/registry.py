"""Every element format by name, and BitMoD's per-group mixture candidate sets."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats import grids, outliers
from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.integer import integer
from bitsmith.ir.formats.minifloat import e8m0, minifloat


class UnknownFormatError(BitsmithError):
    """A format name that is not in the registry; the message lists the valid ones."""


def _builders() -> dict[str, Callable[[], Format]]:
    table: dict[str, Callable[[], Format]] = {}
    for bits in range(2, 9):
        table[f"int{bits}"] = lambda b=bits: integer(b)
        table[f"int{bits}_sym"] = lambda b=bits: integer(b, symmetric=True)
        table[f"uint{bits}"] = lambda b=bits: integer(b, signed=False)
    table["ternary"] = lambda: _renamed(integer(2, symmetric=True), "ternary", "{-1, 0, +1} (BitNet b1.58)")
    table["binary"] = grids.binary
    table["bipolar"] = grids.bipolar
    minifloats = {
        "fp3_e1m1": (1, 1, "none"), "fp3_e2m0": (2, 0, "none"),
        "fp4_e2m1": (2, 1, "none"), "fp4_e3m0": (3, 0, "none"), "fp4_e1m2": (1, 2, "none"),
        "fp5_e2m2": (2, 2, "none"), "fp5_e3m1": (3, 1, "none"),
        "fp6_e2m3": (2, 3, "none"), "fp6_e3m2": (3, 2, "none"),
        "fp8_e4m3": (4, 3, "fn"), "fp8_e5m2": (5, 2, "ieee"),
    }
    for name, (e, m, special) in minifloats.items():
        table[name] = lambda n=name, e=e, m=m, s=special: minifloat(e, m, special=s, name=n)
    table["e8m0"] = e8m0
    table["nf4"] = grids.nf4
    table["flint4"] = grids.flint4
    for bits in (3, 4):
        table[f"bitmod_fp{bits}"] = lambda b=bits: grids.bitmod_fp(b)
        for variant in grids.BITMOD_SPECIAL[bits]:
            table[f"bitmod_fp{bits}_{variant}"] = lambda b=bits, v=variant: grids.bitmod_fp(b, v)
    for bits in outliers.OLIVE_BITS:
        table[f"olive_abfloat{bits}"] = lambda b=bits: outliers.abfloat(b)
    return table


def _renamed(fmt: Format, name: str, description: str) -> Format:
    import dataclasses

    return dataclasses.replace(fmt, name=name, description=description)


_BUILDERS = _builders()

# BitMoD's per-group candidate sets (FACTS §1.1, `search_datatype`), and the ablations.
MIXTURES: dict[str, tuple[str, ...]] = {
    "bitmod3": tuple(f"bitmod_fp3_{v}" for v in ("er_pos", "er_neg", "ea_pos", "ea_neg")),
    "bitmod4": tuple(f"bitmod_fp4_{v}" for v in ("er_pos", "er_neg", "ea_pos", "ea_neg")),
    "bitmod3_er": ("bitmod_fp3_er_pos", "bitmod_fp3_er_neg"),
    "bitmod4_er": ("bitmod_fp4_er_pos", "bitmod_fp4_er_neg"),
    "bitmod3_ea": ("bitmod_fp3_ea_pos", "bitmod_fp3_ea_neg"),
    "bitmod4_ea": ("bitmod_fp4_ea_pos", "bitmod_fp4_ea_neg"),
    "ant3": ("int3_sym", "bitmod_fp3"),
    "ant4": ("int4_sym", "flint4"),
}


def format_names() -> tuple[str, ...]:
    return tuple(_BUILDERS)


@cache
def get_format(name: str) -> Format:
    """The format called `name`; raises UnknownFormatError listing the valid names."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise UnknownFormatError(f"unknown format {name!r}; valid: {', '.join(_BUILDERS)}") from None


def mixture(name: str) -> tuple[Format, ...]:
    """The candidate formats of a per-group mixture (e.g. `bitmod4`)."""
    try:
        return tuple(get_format(n) for n in MIXTURES[name])
    except KeyError:
        raise UnknownFormatError(f"unknown mixture {name!r}; valid: {', '.join(MIXTURES)}") from None
