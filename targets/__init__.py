"""bitsmith.targets: hardware descriptions (schema, loader, shipped YAML library).

A target is a YAML file validated into a typed, immutable object of one of three
kinds: `Accelerator` (a modelled PE array with buffers and DRAM, which the simulator
costs), `CPU` (this host through LLVM) or `GPU` (CUDA). Physical quantities carry
their unit (`1GHz`, `512KiB`, `18.75pJ/bit`); errors are one line naming file, line
and field.
"""

from bitsmith.targets.accelerator import Accelerator
from bitsmith.targets.cpu import CPU
from bitsmith.targets.errors import TargetError
from bitsmith.targets.gpu import GPU
from bitsmith.targets.loader import library_dir, list_targets, load_target, target_from_dict, target_from_yaml
from bitsmith.targets.schema import Target
from bitsmith.targets.units import Dimension, Quantity, UnitError, parse_quantity

__all__ = [
    "Accelerator", "CPU", "Dimension", "GPU", "Quantity", "Target", "TargetError", "UnitError", "library_dir",
    "list_targets", "load_target", "parse_quantity", "target_from_dict", "target_from_yaml",
]
