"""bitsmith.simulator.pe: processing-element models, one file per PE kind.

`pe_model(target)` gives the model of a target's PE; each answers `stages`,
`timing`, `actions` and `compute` for a `DotChunk` or a tile (see base.py).
"""

from bitsmith.simulator.pe.base import DotChunk, PEModel, PETiming
from bitsmith.simulator.pe.bit_fusion import BitFusionPE, BitFusionTiming
from bitsmith.simulator.pe.bit_serial import BitSerialPE, BitSerialTiming
from bitsmith.simulator.pe.bit_serial_act import StripesPE, StripesTiming
from bitsmith.simulator.pe.bit_serial_both import LoomPE, LoomTiming
from bitsmith.simulator.pe.lut import LUTPE, LUTTiming
from bitsmith.simulator.pe.mac import MACPE, MACTiming
from bitsmith.simulator.pe.overlap import PEStages
from bitsmith.simulator.pe.registry import PE_MODELS, pe_model

__all__ = [
    "PE_MODELS", "BitFusionPE", "BitFusionTiming", "BitSerialPE", "BitSerialTiming", "DotChunk", "LUTPE",
    "LUTTiming", "LoomPE", "LoomTiming", "MACPE", "MACTiming", "PEModel", "PEStages", "PETiming", "StripesPE",
    "StripesTiming", "pe_model",
]
