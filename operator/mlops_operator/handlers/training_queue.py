"""Kueue's Workloads, watched: a queued run hears at once when Kueue admits, preempts or
re-queues it, and knows its place in its LocalQueue.

Two indexes and one trigger, all fed by one watch of ``kueue.x-k8s.io`` Workloads (read-only:
the operator never writes Kueue's objects):

- ``queued_workloads``: the Workloads of every (namespace, LocalQueue), for the run's position;
- ``queued_run_jobs``: which TrainingJob owns each training Job (by the Job's uid, the label
  Kueue puts on the Workload), so a Workload leads to its run without a read;
- the trigger: when a Workload's admission changes (quota reserved or released, admitted,
  evicted, finished, deactivated), the run is reconciled now through the operator-wide requeue
  (which coalesces bursts and runs it off the watch's thread). The first ``HEAD_REFRESHED``
  runs waiting in that LocalQueue are looked at a moment later too, as their positions moved: a
  Workload that starts waiting (new, or evicted) can take a place ahead of them, and one that
  stops (admitted, finished, deleted) frees one. Changes of Kueue's
  waiting message alone, and positions further back, wait for the regular look, so a queue of
  hundreds costs no status churn.

Without Kueue installed the Workload resource does not resolve: kopf serves the rest and the
indexes stay empty.
"""

from __future__ import annotations

import threading
from typing import Any

import kopf

from mlops_operator.builders.names import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.reconcile.queue_position import (
    QueuedWorkload,
    queue_head,
    queued_workload,
)
from mlops_operator.reconcile.queue_status import (
    KUEUE_GROUP,
    WORKLOAD_JOB_UID_LABEL,
    admission_state,
)

KUEUE_VERSION = "v1beta2"
WORKLOADS = (KUEUE_GROUP, KUEUE_VERSION, "workloads")
QUEUE_INDEX = "queued_workloads"
RUN_JOB_INDEX = "queued_run_jobs"
#: waiting runs at the head of a LocalQueue whose positions are refreshed at once
HEAD_REFRESHED = 5
#: seconds to wait before that refresh, so a burst of admissions costs one look per run
HEAD_REFRESH_DELAY = 1.0


class AdmissionStates:
    """The admission state each Workload last showed, to react to changes only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, tuple[object, ...]] = {}

    def changed(self, uid: str, state: tuple[object, ...] | None) -> bool:
        with self._lock:
            if state is None:
                self._states.pop(uid, None)
                return False
            before = self._states.get(uid)
            self._states[uid] = state
            return before != state


def register(registry: kopf.OperatorRegistry, requeue: Requeue, *, kind: str) -> None:
    """Register the Workload watch; ``kind`` is the requeue's key for TrainingJobs."""

    @kopf.index(*WORKLOADS, id=QUEUE_INDEX, registry=registry)
    def queued_workloads(
        *, body: kopf.Body, **_: Any
    ) -> dict[tuple[str, str], QueuedWorkload] | None:
        key, entry = queued_workload(body)
        return {key: entry} if key[1] else None

    @kopf.index(
        "batch",
        "v1",
        "jobs",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: "training"},
        id=RUN_JOB_INDEX,
        registry=registry,
    )
    def queued_run_jobs(
        *, namespace: str | None, uid: str | None, body: kopf.Body, **_: Any
    ) -> dict[tuple[str, str], str] | None:
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") == "TrainingJob" and owner.get("controller"):
                return {(namespace or "", uid or ""): str(owner["name"])}
        return None

    states = AdmissionStates()

    @kopf.on.event(*WORKLOADS, id="workload-changed", registry=registry)
    def workload_changed(
        *,
        body: kopf.Body,
        namespace: str | None,
        type: str | None,
        **kwargs: Any,
    ) -> None:
        uid = str(body.get("metadata", {}).get("uid") or "")
        state = None if type == "DELETED" else admission_state(body)
        if not states.changed(uid, state) or type is None:
            return  # nothing new about admission; or the startup listing, which the runs' own
            # listing already covers
        ns = namespace or ""
        job_uid = (body.get("metadata", {}).get("labels") or {}).get(WORKLOAD_JOB_UID_LABEL)
        runs: kopf.Index[tuple[str, str], str] = kwargs[RUN_JOB_INDEX]
        for run in runs.get((ns, str(job_uid or "")), []):
            requeue.schedule(kind, ns, run, after=0)
        # a Workload that starts waiting (new, or evicted) or stops (admitted, finished,
        # deleted) moves the places of the runs behind it
        key, _ = queued_workload(body)
        queues: kopf.Index[tuple[str, str], QueuedWorkload] = kwargs[QUEUE_INDEX]
        for waiting_uid in queue_head(queues.get(key, ()), HEAD_REFRESHED):
            for run in runs.get((ns, waiting_uid), []):
                requeue.schedule(kind, ns, run, after=HEAD_REFRESH_DELAY)
