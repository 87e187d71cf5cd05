"""How many CPU threads torch should use: the container's CPU limit, not the node's cores.

Inside a pod with a CPU limit, torch would otherwise start one thread per core of the node and
the threads would fight over the few CPUs the cgroup grants. Where the cgroup does not show the
limit (cgroup v1, a runtime that does not enforce it), the limit the pod declares counts, and the
smaller of the two wins. ``OMP_NUM_THREADS`` wins when set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from mlops_core.trainer_environment import ENV_CPU_LIMIT_MILLICORES

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


def declared_cpu_limit(env: Mapping[str, str]) -> float | None:
    """CPUs the pod declares as its limit (``MLOPS_CPU_LIMIT_MILLICORES``, set by the Job from
    the downward API), None when unset or not a positive number."""
    try:
        millicores = int(env.get(ENV_CPU_LIMIT_MILLICORES, ""))
    except ValueError:
        return None
    return millicores / 1000 if millicores > 0 else None


def thread_count(env: Mapping[str, str] | None = None, cgroup: Path = CGROUP_CPU_MAX) -> int | None:
    """Threads to give torch, or None to keep torch's default."""
    environ = os.environ if env is None else env
    if environ.get("OMP_NUM_THREADS"):
        return None  # torch reads it itself
    limits = [
        limit
        for limit in (cgroup_cpu_limit(cgroup), declared_cpu_limit(environ))
        if limit is not None
    ]
    if not limits:
        return None
    return max(1, min(math.ceil(min(limits)), os.cpu_count() or 1))
