"""The TVM backend's one error type, so the CLI prints any refusal as one line."""

from __future__ import annotations

from bitsmith.ir.errors import BitsmithError


class BackendError(BitsmithError):
    """A graph, node or device the TVM backend cannot handle; the message names
    the node (or device) and why. `packing.PackingError` covers weights the
    packed layout cannot hold."""
