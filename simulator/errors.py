"""Errors the simulator raises on input it cannot simulate."""

from bitsmith.ir.errors import BitsmithError


class SimulationError(BitsmithError):
    """Work the modelled hardware cannot do (a weight format a PE kind has no
    datapath for, operands wider than it fuses, a group that splits a dot-product
    step); the message is one line naming the format or shape and the PE kind."""
