"""How many CPU threads torch should use: the container's CPU limit, not the node's cores.

Inside a pod with a CPU limit, torch would otherwise start one thread per core of the node and
the threads would fight over the few CPUs the cgroup grants. ``OMP_NUM_THREADS`` wins when set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> float | None:
    """CPUs granted by the cgroup v2 ``cpu.max`` (``"<quota> <period>"``), None if unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def thread_count(env: dict[str, str] | None = None, cgroup: Path = CGROUP_CPU_MAX) -> int | None:
    """Threads to give torch, or None to keep torch's default."""
    environ = os.environ if env is None else env
    if environ.get("OMP_NUM_THREADS"):
        return None  # torch reads it itself
    limit = cgroup_cpu_limit(cgroup)
    if limit is None:
        return None
    return max(1, min(math.ceil(limit), os.cpu_count() or 1))
