"""What this machine is: its ISA, SIMD features (by LLVM's names) and core count.

Read from /proc/cpuinfo and psutil at run time, with no network and no compiler,
so the `cpu` target describes whatever machine loads it. Where /proc/cpuinfo is
absent (macOS, Windows) only the architecture's baseline features are assumed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psutil

# /proc/cpuinfo flag -> LLVM target feature, for the SIMD features code generation cares about
LLVM_FEATURES: dict[str, dict[str, str]] = {
    "x86_64": {
        "sse4_2": "sse4.2", "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
        "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512dq": "avx512dq", "avx512vl": "avx512vl",
        "avx512_vnni": "avx512vnni", "avx512_bf16": "avx512bf16", "avx512_fp16": "avx512fp16",
        "avx_vnni": "avxvnni", "amx_tile": "amx-tile", "amx_int8": "amx-int8", "amx_bf16": "amx-bf16",
    },
    "aarch64": {
        "asimd": "neon", "asimddp": "dotprod", "fphp": "fullfp16", "i8mm": "i8mm", "bf16": "bf16",
        "sve": "sve", "sve2": "sve2",
    },
}
_BASELINE = {"x86_64": (), "aarch64": ("neon",)}  # aarch64 mandates Advanced SIMD
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_CPUINFO = Path("/proc/cpuinfo")


def host_arch() -> str:
    machine = platform.machine().lower()
    try:
        return _MACHINES[machine]
    except KeyError:
        raise ValueError(f"this host's architecture {machine!r} is not supported; "
                         f"give arch explicitly ({', '.join(LLVM_FEATURES)})") from None


def host_features(arch: str, cpuinfo: str | None = None) -> list[str]:
    """LLVM names of the SIMD features in `cpuinfo` (default: this host's
    /proc/cpuinfo), in `LLVM_FEATURES` order."""
    if cpuinfo is None:
        try:
            cpuinfo = _CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    flags = set(_BASELINE[arch])
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
            break  # every core lists the same flags
    table = LLVM_FEATURES[arch]
    return [llvm for flag, llvm in table.items() if flag in flags or llvm in flags]


def host_cores() -> int:
    """Physical cores (logical CPUs where the count of physical ones is unknown)."""
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1
