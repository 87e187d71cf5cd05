"""A queued run's place in its LocalQueue, from the Workloads waiting there.

Pure: Workload bodies in (as the operator's watch of ``kueue.x-k8s.io`` Workloads shows them),
one :class:`QueuedWorkload` each out, and the position of a run among those of its LocalQueue.
Invariants:

- the order is Kueue's own for its queues (v0.17, default feature gates): higher
  ``spec.priority`` first, then the earlier queue-ordering time, then the Workload's uid. The
  queue-ordering time is the creation time, also for a run preempted and waiting again (it
  keeps its place), except while Kueue holds it evicted for a pods-ready timeout or by an
  admission check: then the time of that eviction, at the end of its priority;
- only Workloads still waiting count: neither holding quota, nor finished, nor deactivated;
- position 1 is the run Kueue tries next; a run that does not wait has no position.

Kueue's visibility API reports positions on demand; computing them from the watch costs no
extra request and works where that API is off. They are positions within the LocalQueue:
runs of other namespaces sharing the ClusterQueue are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_operator.reconcile.queue_status import WORKLOAD_JOB_UID_LABEL

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: eviction reasons after which Kueue orders a run by the time of its eviction
REQUEUED_AT_EVICTION = frozenset({"PodsReadyTimeout", "AdmissionCheck"})


@dataclass(frozen=True, order=True)
class QueuedWorkload:
    """One Workload of a LocalQueue, as much of it as its place in the queue needs."""

    #: Kueue's order key: the negated priority, the queue-ordering time, the Workload's uid
    rank: tuple[int, datetime, str]
    job_uid: str
    waiting: bool


def _stamp(text: object) -> datetime:
    if not text:
        return _EPOCH
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def queued_workload(workload: Mapping[str, Any]) -> tuple[tuple[str, str], QueuedWorkload]:
    """((namespace, LocalQueue), the Workload's place data) of a Workload body."""
    metadata = workload.get("metadata") or {}
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    conditions = _conditions(status)

    def true(kind: str) -> bool:
        return (conditions.get(kind) or {}).get("status") == "True"

    waiting = not (true("QuotaReserved") or true("Finished")) and spec.get("active", True)
    ordered_at = _stamp(metadata.get("creationTimestamp"))
    evicted = conditions.get("Evicted") or {}
    if evicted.get("status") == "True" and evicted.get("reason") in REQUEUED_AT_EVICTION:
        ordered_at = _stamp(evicted.get("lastTransitionTime"))
    entry = QueuedWorkload(
        rank=(-int(spec.get("priority") or 0), ordered_at, str(metadata.get("uid") or "")),
        job_uid=str((metadata.get("labels") or {}).get(WORKLOAD_JOB_UID_LABEL) or ""),
        waiting=bool(waiting),
    )
    key = (str(metadata.get("namespace") or ""), str(spec.get("queueName") or ""))
    return key, entry


def queue_head(entries: Iterable[QueuedWorkload], count: int) -> list[str]:
    """Job uids of the first ``count`` waiting runs, in queue order."""
    return [e.job_uid for e in sorted(e for e in entries if e.waiting)[:count]]


def queue_position(entries: Iterable[QueuedWorkload], job_uid: str) -> int | None:
    """1-based place of the run whose Job has ``job_uid`` among the waiting Workloads of its
    LocalQueue; None when it is not waiting there (admitted, finished, or not seen yet)."""
    waiting = sorted(e for e in entries if e.waiting)
    for place, entry in enumerate(waiting, start=1):
        if entry.job_uid == job_uid:
            return place
    return None
