"""What a name passed to the quantiser means, without quantising anything.

A scheme name is an element format (`int4_sym`, `nf4`, `ternary`), a per-group
mixture (a named one, `bitmod4`, or any element formats of one width joined by
`+`, `int4_sym+fp4_e2m1+nf4`, as `assign_dtypes` writes them), an OCP MX format
(`mxfp4`: blocks of 32 with an E8M0 scale) or an OliVe scheme (`olive4`). A
joined name needs no registry entry and no quoting: it has no spaces or
parentheses, so it survives the printer's `quant(...)` and the JSON as it is.
`resolve_scheme` turns a name into candidate formats, a scale rule and an
outlier format; `shape_only_spec` builds the spec a tensor of
a given shape would get (what shape-only weights carry), and `spec_from_summary`
reads back the spec summary the IR printer writes (`quant(bitmod4 group=128 axis=1)`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bitsmith.ir.errors import BitsmithError
from bitsmith.ir.formats.outliers import OLIVE_BITS
from bitsmith.ir.formats.registry import MIXTURES, UnknownFormatError, format_names, get_format
from bitsmith.ir.formats.spec import SCALE_RULES, QuantSpec


class QuantizationError(BitsmithError, ValueError):
    """Bad input to the quantiser (NaN/inf weights, a group size that does not divide
    the axis, an unknown option); the message is one line naming the problem."""


# MX (OCP Microscaling v1.0) names -> element format in the registry, and the factor
# the element grid is multiplied by to get MX element values (INT8: k/64).
MX_FORMATS: dict[str, tuple[str, float]] = {
    "mxfp4": ("fp4_e2m1", 1.0),
    "mxfp6_e2m3": ("fp6_e2m3", 1.0),
    "mxfp6_e3m2": ("fp6_e3m2", 1.0),
    "mxfp8_e4m3": ("fp8_e4m3", 1.0),
    "mxfp8_e5m2": ("fp8_e5m2", 1.0),
    "mxint8": ("int8_sym", 2.0**-6),
}
MX_BLOCK = 32
# OliVe schemes: name -> element bits (normal INT-b symmetric, abfloat-b outliers).
OLIVE_SCHEMES: dict[str, int] = {f"olive{b}": b for b in OLIVE_BITS}
MIX_SEPARATOR = "+"


@dataclass(frozen=True)
class Scheme:
    """What a scheme name resolves to: candidate formats, scale rule, the OliVe
    outlier format, and the MX element unit."""

    formats: tuple[str, ...]
    scale_rule: str
    outlier_format: str | None = None
    mx_unit: float = 1.0


def resolve_scheme(name: str, *, asymmetric: bool = False, scale_rule: str | None = None,
                   where: str = "tensor") -> Scheme:
    """Resolve a format, mixture (`bitmod4`), MX (`mxfp4`) or OliVe (`olive4`) name.
    `scale_rule` None picks the scheme's own: mx for MX, olive for OliVe, absmean
    for ternary (BitNet b1.58), absmax otherwise."""
    if scale_rule is not None and scale_rule not in SCALE_RULES:
        raise QuantizationError(f"{where}: scale_rule must be one of {', '.join(SCALE_RULES)}, got {scale_rule!r}")
    if name in MX_FORMATS:
        element, unit = MX_FORMATS[name]
        scheme = Scheme((element,), "mx", mx_unit=unit)
    elif name in OLIVE_SCHEMES:
        bits = OLIVE_SCHEMES[name]
        scheme = Scheme((f"int{bits}_sym",), "olive", outlier_format=f"olive_abfloat{bits}")
    elif name in MIXTURES:
        scheme = Scheme(MIXTURES[name], "absmax")
    elif MIX_SEPARATOR in name:
        scheme = Scheme(_joined_members(name, where), "absmax")
    elif name in format_names():
        scheme = Scheme((name,), "absmean" if name == "ternary" else "absmax")
    else:
        raise UnknownFormatError(f"{where}: unknown format {name!r}; valid: {', '.join(scheme_names())}")
    rule = scale_rule or scheme.scale_rule
    if rule != scheme.scale_rule and scheme.scale_rule in ("mx", "olive"):
        raise QuantizationError(f"{where}: {name!r} fixes scale_rule {scheme.scale_rule!r}, got {rule!r}")
    if rule in ("mx", "olive") and scheme.scale_rule != rule:
        raise QuantizationError(f"{where}: scale_rule {rule!r} belongs to the {rule} schemes, not {name!r}")
    if rule == "absmean" and len(scheme.formats) != 1:
        raise QuantizationError(f"{where}: scale_rule 'absmean' needs a single format, got mixture {name!r}")
    if asymmetric:
        fmt = get_format(scheme.formats[0])
        if len(scheme.formats) != 1 or fmt.family != "int" or rule != "absmax":
            raise QuantizationError(f"{where}: asymmetric quantisation needs one integer format and absmax, got {name!r}")
        return Scheme((f"uint{fmt.bits}",), rule)
    return dataclasses.replace(scheme, scale_rule=rule)


def mixture_name(formats: tuple[str, ...]) -> str:
    """The scheme name of a per-group mixture of `formats` (in table order): the
    named mixture with exactly these members (`bitmod4`), else the `+`-joined name;
    a single format is its own name."""
    named = next((name for name, members in MIXTURES.items() if members == formats), None)
    return named or MIX_SEPARATOR.join(formats)


def _joined_members(name: str, where: str) -> tuple[str, ...]:
    """The members of a `+`-joined mixture: two or more distinct element formats
    of one bit width (a group's codes are one fixed width whatever it picks)."""
    members = tuple(name.split(MIX_SEPARATOR))
    for member in members:
        if member not in format_names():
            raise UnknownFormatError(f"{where}: mixture {name!r} has unknown element format {member!r}; "
                                     f"valid: {', '.join(format_names())}")
    if len(set(members)) != len(members):
        raise QuantizationError(f"{where}: mixture {name!r} lists a format twice")
    widths = sorted({get_format(m).bits for m in members})
    if len(widths) > 1:
        raise QuantizationError(f"{where}: mixture {name!r} mixes element widths {widths}; "
                                "its members must share one width")
    return members


def scheme_names() -> tuple[str, ...]:
    """Every named scheme `quantize` accepts: formats, named mixtures, MX and OliVe
    schemes (`+`-joined mixtures are built from the formats, not listed)."""
    return format_names() + tuple(MIXTURES) + tuple(MX_FORMATS) + tuple(OLIVE_SCHEMES)


def shape_only_spec(shape: tuple[int, ...], fmt: str, *, group_size: int | None = 128, axis: int = -1,
                    granularity: str = "group", scale_rule: str | None = None, asymmetric: bool = False,
                    scale_bits: int | None = None, where: str = "tensor") -> QuantSpec:
    """The spec `quantize` would give a tensor of `shape`, without its arrays: the
    format choice a shape-only weight (a large model on the meta device) carries."""
    scheme = resolve_scheme(fmt, asymmetric=asymmetric, scale_rule=scale_rule, where=where)
    if scheme.scale_rule == "mx":
        granularity, group_size = "group", MX_BLOCK
    if granularity == "group" and group_size is None:
        granularity = "channel"
    if not -len(shape) <= axis < len(shape):
        raise QuantizationError(f"{where}: axis {axis} out of range for a {len(shape)}-d tensor")
    try:
        return QuantSpec(fmt, shape, axis % len(shape), granularity, group_size if granularity == "group" else None,
                         scheme.formats, scheme.scale_rule, asymmetric, scale_bits, scheme.outlier_format)
    except ValueError as err:
        raise QuantizationError(f"{where}: {err}") from None


def spec_from_summary(text: str, shape: tuple[int, ...]) -> QuantSpec:
    """The shape-only spec `QuantSpec.summary()` printed as `text` for a tensor of
    `shape`; raises QuantizationError naming the bad token."""
    tokens = text.split()
    if not tokens:
        raise QuantizationError("quant(): empty")
    options: dict = {"granularity": None, "axis": None, "asymmetric": False, "scale_rule": None,
                     "scale_bits": None, "group_size": None}
    for token in tokens[1:]:
        key, _, value = token.partition("=")
        if token in ("tensor", "channel"):
            options["granularity"] = token
        elif key == "group" and value.isdigit():
            options["granularity"], options["group_size"] = "group", int(value)
        elif key in ("axis", "scale_bits") and value.isdigit():
            options[key] = int(value)
        elif token == "asym":
            options["asymmetric"] = True
        elif key == "rule" and value:
            options["scale_rule"] = value
        else:
            raise QuantizationError(f"quant({text}): cannot read {token!r}")
    if options["granularity"] is None or options["axis"] is None:
        raise QuantizationError(f"quant({text}): needs a granularity (group=N, channel or tensor) and axis=N")
    return shape_only_spec(shape, tokens[0], where=f"quant({text})", **options)
