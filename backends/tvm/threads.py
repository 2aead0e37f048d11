"""TVM's CPU thread pool sized to this machine's cores.

Why. Unless `TVM_NUM_THREADS` says otherwise, TVM's runtime gives its pool half
the logical CPUs on x86, assuming two hyper-threads per core. Where a core runs
one thread (the 2-vCPU AMD EPYC this was measured on: `lscpu` "Thread(s) per
core: 1") that leaves half the cores idle: every packed kernel ran on one
thread, and the 4096 x 4096 W4 GEMV took 0.14 ms out of cache where two threads
take 0.086 ms.

How. Before the pool exists (TVM creates it at the first parallel call and
reads the variable then), `TVM_NUM_THREADS` defaults to one thread per
physical core this process may run on: Linux sysfs topology (package, core)
over `os.sched_getaffinity`, or the CPU count where that cannot be read. A value
the user set is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSFS_CPUS = Path("/sys/devices/system/cpu")


def physical_cores() -> int:
    """Cores (not hardware threads) among the CPUs this process may use."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = SYSFS_CPUS / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def size_thread_pool() -> int:
    """Set `TVM_NUM_THREADS` to the physical cores unless the user set it; the
    thread count TVM will use."""
    return int(os.environ.setdefault("TVM_NUM_THREADS", str(physical_cores())))
