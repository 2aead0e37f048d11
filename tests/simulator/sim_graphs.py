"""Zoo graphs and their example inputs for the simulator tests, lowered once per
test session (torch.export takes seconds per model)."""

from __future__ import annotations

from functools import cache

import numpy as np

from bitsmith.api import load, lower
from bitsmith.ir.graph import Graph


@cache
def zoo_graph(name: str, phase: str = "prefill") -> Graph:
    return lower(name, phase=phase)


@cache
def zoo_inputs(name: str, phase: str = "prefill") -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(x.detach().numpy()) for x in load(name, phase=phase).example_inputs)
