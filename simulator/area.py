"""Area of a target from its components (DESIGN §6), in mm².

- `pe_array`: PEs x synthesis area per PE x `pnr_factor`, the placed array
  (BitMoD's simulator scales `pe_area` by 1.5 for place-and-route, FACTS §1.3);
  the synthesis figure BitMoD prints as "pe array area" (1024 x 1507.7 µm² =
  1.544 mm² for BitMoD) is kept beside it as `pe_array_synthesis_mm2`;
- `buffer:<name>`: each on-chip buffer's stated area.

A component the target leaves null is unknown (None), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitsmith.simulator.breakdown import Breakdown
from bitsmith.targets.accelerator import Accelerator


@dataclass(frozen=True)
class AreaReport:
    breakdown: Breakdown
    pe_array_synthesis_mm2: float | None


def target_area(target: Accelerator) -> AreaReport:
    components: dict[str, float | None] = {"pe_array": target.pe_array.placed_area_mm2}
    for name, buffer in target.buffers.items():
        components[f"buffer:{name}"] = None if buffer.area is None else buffer.area.to("mm2")
    return AreaReport(Breakdown(components), target.pe_array.area_mm2)
