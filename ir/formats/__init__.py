"""Number formats (DESIGN §4): every element format as a code table (`Format`),
the registry by name, and BitMoD's mixture candidate sets."""

from bitsmith.ir.formats.base import Format
from bitsmith.ir.formats.registry import MIXTURES, UnknownFormatError, format_names, get_format, mixture

__all__ = ["Format", "MIXTURES", "UnknownFormatError", "format_names", "get_format", "mixture"]
