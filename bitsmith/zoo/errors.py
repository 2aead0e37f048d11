"""Errors raised by the model zoo.

Every message is a single line, so the CLI can print it as is and tests can match it.
"""


from bitsmith.ir.errors import BitsmithError


class ZooError(BitsmithError):
    """Base class: a model could not be named, built or loaded."""


class UnknownModelError(ZooError):
    """The name is neither a zoo entry nor a `file.py:factory` reference."""


class ModelLoadError(ZooError):
    """A `file.py:factory` reference could not be turned into a model."""
