"""Reading Kueue for a TrainingJob: which queue applies, and where the run stands in it.

The queue of a run is decided once, when its Job is created, and kept on the Job as Kueue's
queue label; afterwards the label is the record. The Workload is found by Kueue's label naming
the Job's uid (Kueue names Workloads itself).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.names import LABEL_KUEUE_QUEUE
from mlops_operator.context import OperatorContext
from mlops_operator.kube import ForbiddenError, NotFoundError
from mlops_operator.reconcile.queue_position import QueuedWorkload, queue_position
from mlops_operator.reconcile.queue_status import (
    KUEUE_API_VERSION,
    WORKLOAD_JOB_UID_LABEL,
    Missing,
    QueueVerdict,
    queue_verdict,
)

#: the Workloads of each (namespace, LocalQueue), kept current by the operator's watch
QueueBook = Mapping[tuple[str, str], Collection[QueuedWorkload]]


def effective_queue(ctx: OperatorContext, tj: TrainingJob) -> str | None:
    """``spec.queue``; else the operator's default queue when this namespace has a LocalQueue
    of that name (a namespace without one, or a cluster without Kueue, runs at once)."""
    if tj.spec.queue:
        return tj.spec.queue
    default = ctx.settings.default_queue
    if not default:
        return None
    found = ctx.kube.get(KUEUE_API_VERSION, "LocalQueue", default, tj.metadata.namespace)
    return default if found is not None else None


def job_queue(job: dict[str, Any]) -> str | None:
    """The queue a run's Job was created in (Kueue's label), or None."""
    labels = (job.get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_KUEUE_QUEUE)
    return str(value) if value else None


def _may_be_missing(workload: dict[str, Any] | None) -> bool:
    """Whether the LocalQueue (or priority class) needs a look: no Workload yet, or Kueue
    finds it inadmissible. A Workload Kueue is weighing against quota names an existing queue,
    so the common case costs one read, not three."""
    if workload is None:
        return True
    for condition in (workload.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "QuotaReserved":
            return bool(
                condition.get("status") != "True" and condition.get("reason") == "Inadmissible"
            )
    return True


def _priority_class_exists(ctx: OperatorContext, name: str) -> bool:
    """Whether the WorkloadPriorityClass exists; assumed so when the operator may not read
    cluster-scoped objects (a namespaced install): Kueue then says why it waits."""
    try:
        return ctx.kube.get(KUEUE_API_VERSION, "WorkloadPriorityClass", name) is not None
    except ForbiddenError:
        return True


def observe_queue(
    ctx: OperatorContext,
    tj: TrainingJob,
    job: dict[str, Any],
    queue: str,
    *,
    now: datetime,
    queues: QueueBook | None = None,
) -> QueueVerdict:
    """The run's place in ``queue``: its Workload, or which named thing is missing; its
    position there when ``queues`` (the watched Workloads) is given."""
    namespace = tj.metadata.namespace or "default"
    uid = (job.get("metadata") or {}).get("uid") or ""
    missing: Missing | None = None
    workload = None
    try:
        workloads = ctx.kube.list(
            KUEUE_API_VERSION,
            "Workload",
            namespace,
            label_selector=f"{WORKLOAD_JOB_UID_LABEL}={uid}",
        )
    except NotFoundError:
        missing = "Kueue"
    else:
        workload = workloads[0] if workloads else None
        if _may_be_missing(workload):
            if ctx.kube.get(KUEUE_API_VERSION, "LocalQueue", queue, namespace) is None:
                missing = "LocalQueue"
            elif (
                workload is None
                and tj.spec.priority_class
                and not _priority_class_exists(ctx, tj.spec.priority_class)
            ):
                missing = "WorkloadPriorityClass"
    return queue_verdict(
        queue=queue,
        priority_class=tj.spec.priority_class,
        workload=workload,
        missing=missing,
        previous=tj.status.queue,
        now=now,
        position=queue_position(queues.get((namespace, queue), ()), uid) if queues else None,
    )
