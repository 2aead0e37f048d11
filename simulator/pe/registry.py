"""The PE model for a target's `pe_array.pe` kind."""

from __future__ import annotations

from bitsmith.simulator.pe.base import PEModel
from bitsmith.simulator.pe.bit_fusion import BitFusionPE
from bitsmith.simulator.pe.bit_serial import BitSerialPE
from bitsmith.simulator.pe.bit_serial_act import StripesPE
from bitsmith.simulator.pe.bit_serial_both import LoomPE
from bitsmith.simulator.pe.lut import LUTPE
from bitsmith.simulator.pe.mac import MACPE
from bitsmith.targets.accelerator import Accelerator, PEArray

PE_MODELS: dict[str, type[PEModel]] = {
    model.kind: model for model in (MACPE, BitSerialPE, LUTPE, StripesPE, LoomPE, BitFusionPE)
}


def pe_model(target: Accelerator | PEArray) -> PEModel:
    """The model of `target`'s PE, with its LUT builder options where it has a LUT
    unit. From an `Accelerator` it also takes the dequant unit and the weight and
    activation formats (the widest bounds what the PE accepts); from a bare
    `PEArray`, neither."""
    array = target.pe_array if isinstance(target, Accelerator) else target
    options: dict[str, object] = {}
    if array.lut is not None:
        options = {"shared_precompute": array.lut.shared_builder, "tables_per_cycle": array.lut.tables_per_cycle}
    if isinstance(target, Accelerator):
        options.update(dequant=target.dequant, weight_formats=target.formats.weights,
                       act_formats=target.formats.activations)
    return PE_MODELS[array.pe](array, **options)
