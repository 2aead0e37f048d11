"""Errors raised by the IR. Each carries a one-line message naming the offending thing.

Every bitsmith error derives from `BitsmithError`, so the CLI can turn any of them
into a one-line message and a non-zero exit without hiding real bugs (which raise
other exception types and keep their traceback).
"""


class BitsmithError(Exception):
    """Base of every error bitsmith raises on bad input."""


class VerifyError(BitsmithError):
    """A graph breaks an IR rule (shape, type, order, arity); names the node."""


class GraphFormatError(BitsmithError):
    """A saved graph file is missing, truncated, corrupt or of an unknown version."""


class ExportError(BitsmithError):
    """torch.export could not trace a model; carries torch's first line of reason."""


class UnsupportedOpError(BitsmithError):
    """A frontend met an operation outside the IR's op set; names it and its origin."""


class InterpretError(BitsmithError):
    """The reference interpreter cannot run a graph (missing inputs, shape-only weights)."""
