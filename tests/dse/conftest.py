"""Shared fixtures of the design-space exploration tests: a small sweep over the
`mlp` zoo model (144 points, a few ms each) and its lowered graph, lowered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsmith.ir.graph import Graph
from dse_sweeps import SMALL_SWEEP



@pytest.fixture
def small_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "dse.yaml"
    path.write_text(SMALL_SWEEP)
    return path


@pytest.fixture(scope="session")
def mlp_graphs() -> tuple[Graph, ...]:
    import yaml

    from bitsmith.dse.execute import lowered_workloads
    from bitsmith.dse.spec import SweepSpec

    return lowered_workloads(SweepSpec.model_validate(yaml.safe_load(SMALL_SWEEP)))
