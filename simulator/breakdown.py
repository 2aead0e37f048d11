"""`Breakdown`: a figure (energy in pJ, area in mm²) split by component, where a
component the target leaves unstated is unknown (None), never zero.

A total over a breakdown with unknown parts is a lower bound and says so:
`complete` is False and `unknown` names the missing parts, so a report can print
"≥ 1.2 µJ (unknown: sram_read:weight)" rather than a number that looks whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Breakdown:
    components: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of the known components (a lower bound when not `complete`)."""
        return sum(value for value in self.components.values() if value is not None)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(name for name, value in self.components.items() if value is None)

    @property
    def complete(self) -> bool:
        return not self.unknown

    @staticmethod
    def combine(parts: Iterable[Breakdown]) -> Breakdown:
        """Component-wise sum; a component unknown in any part is unknown."""
        summed: dict[str, float | None] = {}
        for part in parts:
            for name, value in part.components.items():
                known = summed.get(name, 0.0)
                summed[name] = None if value is None or known is None else known + value
        return Breakdown(summed)

    def describe(self, unit: str, scale: float = 1.0) -> str:
        """`total unit`, prefixed with ≥ and followed by the unknown parts when partial."""
        text = f"{self.total * scale:,.4g} {unit}"
        return text if self.complete else f"≥ {text} (unknown: {', '.join(self.unknown)})"
