"""The one error a bad target raises."""

from bitsmith.ir.errors import BitsmithError


class TargetError(BitsmithError):
    """A target file or override is wrong. The message is one line naming the file,
    the line and the field: `bitmod.yaml:14: pe_array.rows: must be a positive
    integer, got -3`."""
