"""TVM's thread pool gets one thread per physical core (`backends.tvm.threads`),
not TVM's default of half the logical CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitsmith.backends.tvm import threads


def _fake_sysfs(root: Path, cores: dict[int, tuple[int, int]]) -> Path:
    """cpu -> (package, core) as Linux lays it out under /sys/devices/system/cpu."""
    for cpu, (package, core) in cores.items():
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


@pytest.mark.parametrize(("cores", "expected"), [
    ({0: (0, 0), 1: (0, 1)}, 2),  # one thread per core: both count
    ({0: (0, 0), 1: (0, 0), 2: (0, 1), 3: (0, 1)}, 2),  # two hyper-threads per core
    ({0: (0, 0), 1: (1, 0)}, 2),  # same core id on two packages
])
def test_physical_cores_counts_package_and_core_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     cores: dict, expected: int) -> None:
    monkeypatch.setattr(threads, "SYSFS_CPUS", _fake_sysfs(tmp_path, cores))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(cores))
    assert threads.physical_cores() == expected


def test_without_topology_every_allowed_cpu_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "SYSFS_CPUS", tmp_path)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2})
    assert threads.physical_cores() == 3


def test_a_users_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVM_NUM_THREADS", "1")
    assert threads.size_thread_pool() == 1 and os.environ["TVM_NUM_THREADS"] == "1"


def test_tvm_runs_one_thread_per_core() -> None:
    """In a fresh process (the pool is sized once), TVM's own count after import."""
    env = {k: v for k, v in os.environ.items() if k != "TVM_NUM_THREADS"}
    code = ("import bitsmith.backends.tvm, tvm; from bitsmith.backends.tvm.threads import physical_cores; "
            "print(tvm.get_global_func('runtime.NumThreads')(), physical_cores())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    used, cores = map(int, out.split())
    assert used == cores
