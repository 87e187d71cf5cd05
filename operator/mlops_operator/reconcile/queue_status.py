"""What Kueue says about a queued run: waiting (and why), admitted, preempted, or stuck.

Pure: the run's Job, its Kueue Workload (``kueue.x-k8s.io/v1beta2``, or None when Kueue has
not made one) and what the operator found missing (the LocalQueue, the WorkloadPriorityClass,
Kueue itself) in; a :class:`QueueVerdict` out. Invariants:

- a run waiting for quota is ``Queued`` and ``Reconciling``, never ``Stalled``;
- it is ``Stalled`` only when waiting cannot end by itself: its request exceeds everything the
  ClusterQueue could ever give, or something it names does not exist (the message says what to
  fix; the run starts by itself once it is fixed, because the Job stays suspended in the queue);
- preemptions are counted from Kueue's own eviction counter, so a count is never lost or
  doubled by a missed or repeated reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from mlops_operator.api.training_job import PREEMPTIONS_KEPT, Preemption, QueueStatus

KUEUE_GROUP: Final = "kueue.x-k8s.io"
KUEUE_API_VERSION: Final = "kueue.x-k8s.io/v1beta2"
#: Kueue's label on a Workload naming the uid of the Job it stands for
WORKLOAD_JOB_UID_LABEL: Final = "kueue.x-k8s.io/job-uid"
#: Kueue's words for a request larger than the ClusterQueue's whole quota
NEVER_FITS: Final = ("maximum capacity", "exceeds the maximum", "more than the maximum")

Missing = Literal["Kueue", "LocalQueue", "WorkloadPriorityClass"]
QueueState = Literal["Waiting", "Admitted", "Stuck"]


@dataclass(frozen=True)
class QueueVerdict:
    state: QueueState
    reason: str
    message: str
    status: QueueStatus


def _condition(workload: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (workload.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def _true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def preemption_count(workload: Mapping[str, Any]) -> int:
    """Evictions of the Workload that were preemptions, by Kueue's own counter."""
    evictions = ((workload.get("status") or {}).get("schedulingStats") or {}).get("evictions")
    return sum(int(e.get("count", 0)) for e in evictions or [] if e.get("reason") == "Preempted")


def admission_state(workload: Mapping[str, Any]) -> tuple[object, ...]:
    """What of a Workload changes the run's phase: quota reserved, admitted, evicted, finished,
    active, and the eviction count. Kueue's waiting message is not part of it."""
    states = tuple(
        (_condition(workload, kind) or {}).get("status")
        for kind in ("QuotaReserved", "Admitted", "Evicted", "Finished")
    )
    active = (workload.get("spec") or {}).get("active", True)
    return (*states, active, preemption_count(workload))


def _history(
    previous: QueueStatus | None, count: int, evicted: Mapping[str, Any] | None, now: datetime
) -> list[Preemption]:
    history = list(previous.preemption_history) if previous else []
    known = previous.preemptions if previous else 0
    if count > known:
        when = now
        stamp = (evicted or {}).get("lastTransitionTime")
        if stamp:
            when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        message = str((evicted or {}).get("message") or "")[:1024]
        history += [Preemption(time=when, reason="Preempted", message=message)] * (count - known)
    return history[-PREEMPTIONS_KEPT:]


def queue_verdict(
    *,
    queue: str,
    priority_class: str | None,
    workload: Mapping[str, Any] | None,
    missing: Missing | None,
    previous: QueueStatus | None,
    now: datetime,
    position: int | None = None,
) -> QueueVerdict:
    """The run's place in Kueue, from its Workload and what was found missing; ``position``
    (1: tried next) is kept while the run waits for quota."""
    base = QueueStatus(name=queue)
    if missing == "Kueue":
        return QueueVerdict(
            "Stuck",
            "KueueNotInstalled",
            f"the run names queue {queue!r} but Kueue is not installed in this cluster "
            "(no kueue.x-k8s.io API): install Kueue, or create the run without a queue; "
            "its Job waits suspended until then",
            base,
        )
    if missing == "LocalQueue":
        return QueueVerdict(
            "Stuck",
            "QueueNotFound",
            f"LocalQueue {queue!r} does not exist in this namespace: create it (kubectl get "
            "localqueues lists those there); the run starts by itself once it exists",
            base,
        )
    if missing == "WorkloadPriorityClass":
        return QueueVerdict(
            "Stuck",
            "PriorityClassNotFound",
            f"WorkloadPriorityClass {priority_class!r} does not exist: create it (kubectl get "
            "workloadpriorityclasses lists them); the run is queued once it exists",
            base,
        )
    if workload is None:
        return QueueVerdict(
            "Waiting", "WaitingForKueue", f"waiting for Kueue to queue the run in {queue}", base
        )
    status = workload.get("status") or {}
    count = preemption_count(workload)
    evicted = _condition(workload, "Evicted")
    cluster_queue = ((status.get("admission") or {}).get("clusterQueue")) or None
    admitted = _true(_condition(workload, "Admitted"))
    info = QueueStatus(
        name=queue,
        workload=(workload.get("metadata") or {}).get("name"),
        cluster_queue=cluster_queue if admitted else None,
        admitted=admitted,
        preemptions=max(count, previous.preemptions if previous else 0),
        preemption_history=_history(previous, count, evicted, now),
    )
    if admitted:
        return QueueVerdict(
            "Admitted", "Admitted", f"admitted by ClusterQueue {cluster_queue}", info
        )
    reserved = _condition(workload, "QuotaReserved") or {}
    message = str(reserved.get("message") or "")
    reason = str(reserved.get("reason") or "Pending")
    if any(words in message for words in NEVER_FITS):
        return QueueVerdict(
            "Stuck",
            "ExceedsQueueQuota",
            f"the run asks for more than queue {queue} can ever give: {message}; lower "
            "resources or workers, or raise the ClusterQueue's nominal quota",
            info.model_copy(update={"reason": reason}),
        )
    if _true(evicted) and evicted is not None and evicted.get("reason") == "Preempted":
        text = f"preempted; waiting in queue {queue} to resume from its checkpoint"
    else:
        text = f"waiting in queue {queue}"
    if message:
        text += f": {message}"
    if position is not None:
        text += f" (position {position})"
    waiting = info.model_copy(update={"reason": reason, "position": position})
    return QueueVerdict("Waiting", "Queued", text, waiting)
