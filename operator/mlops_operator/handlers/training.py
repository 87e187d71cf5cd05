"""TrainingJob handlers: level-triggered. A run is reconciled when it appears (or is seen at
startup), whenever its Job changes, and every ``RESYNC_SECONDS`` while it is unfinished through
the operator-wide requeue (``requeue.py``), which also retries what failed. The resync is a
safety net (the watch events drive every run), so its rate is bounded: with more than
``RESYNC_SECONDS × RESYNC_PER_SECOND`` unfinished runs, each is looked at less often
(``resync_after``), and a thousand waiting runs do not keep the requeue's workers busy.

These are watch-event handlers, not kopf's create/update handlers or timers: the run's state
lives in its status and its Job, so kopf has nothing to remember, and the operator writes
neither bookkeeping annotations nor finalizers on TrainingJobs. Per new run that leaves two
writes: the status that records its version, and its Job. A queued run is also reconciled
when its Kueue Workload's admission changes (``training_queue.py``), and a run of one pod
when that pod succeeds (the Job controller shows it in the Job's status about a second later).

Two in-memory indexes, fed by the operator's own watches, answer "which versions of this
model are taken" without listing every TrainingJob and ModelVersion on each new run; kopf
fills them completely before any handler runs, also after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.api.training_job import FINISHED_PHASES
from mlops_operator.builders.training_job import TRAINING_LABELS
from mlops_operator.context import OperatorContext
from mlops_operator.handlers import training_queue
from mlops_operator.handlers.posting import post_notes
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.reconcile.job_outcome import pods_matter
from mlops_operator.reconcile.training_queue import QueueBook
from mlops_operator.reconcile.training_run import reconcile_training_job

RESYNC_SECONDS = 30.0
#: timed looks at unfinished runs per second, at most (all runs together)
RESYNC_PER_SECOND = 5.0

ModelKey = tuple[str, str]
#: (namespace, name) of a TrainingJob
RunKey = tuple[str, str]
KIND = "TrainingJob"


class UnfinishedRuns:
    """The runs that are not finished, as the latest watch event of each showed it (with its
    uid, for Events). Fed by the TrainingJob event handler; read by the timed reconcile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uids: dict[RunKey, str] = {}

    def observe(self, key: RunKey, *, uid: str, unfinished: bool) -> None:
        with self._lock:
            if unfinished:
                self._uids[key] = uid
            else:
                self._uids.pop(key, None)

    def count(self) -> int:
        with self._lock:
            return len(self._uids)

    def uid(self, key: RunKey) -> str | None:
        """The run's uid while it is unfinished, else None."""
        with self._lock:
            return self._uids.get(key)


@dataclass(frozen=True)
class IndexedVersionBook:
    """Versions taken per (namespace, model), from the watch indexes."""

    runs: kopf.Index[ModelKey, tuple[str, str]]
    registered: kopf.Index[ModelKey, str]

    def taken(self, namespace: str, model: str, *, run: str) -> tuple[list[str], list[str]]:
        key = (namespace, model)
        registered = list(self.registered.get(key, []))
        reserved = [version for name, version in self.runs.get(key, []) if name != run]
        return registered, reserved


def resync_after(unfinished: int) -> float:
    """Seconds between two timed looks at one unfinished run, with ``unfinished`` of them:
    ``RESYNC_SECONDS``, or longer so that all of them take at most ``RESYNC_PER_SECOND``
    looks a second."""
    return max(RESYNC_SECONDS, unfinished / RESYNC_PER_SECOND)


def _unfinished(status: Any) -> bool:
    return (status or {}).get("phase") not in FINISHED_PHASES


def _reference(namespace: str, name: str, uid: str) -> dict[str, Any]:
    """Enough of a TrainingJob to post an Event about it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, requeue: Requeue) -> None:
    resource = (GROUP, VERSION, "trainingjobs")

    @kopf.index(*resource, id="run_versions", registry=registry)
    def run_versions(
        *, namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, **_: Any
    ) -> dict[ModelKey, tuple[str, str]] | None:
        version, model = status.get("version"), spec.get("modelName")
        if not version or not model:
            return None
        return {(namespace or "", str(model)): (name, str(version))}

    @kopf.index(GROUP, VERSION, "modelversions", id="registered_versions", registry=registry)
    def registered_versions(
        *, namespace: str | None, spec: kopf.Spec, **_: Any
    ) -> dict[ModelKey, str] | None:
        model, version = spec.get("model"), spec.get("version")
        if not model or not version:
            return None
        return {(namespace or "", str(model)): str(version)}

    def book(kwargs: dict[str, Any]) -> IndexedVersionBook:
        return IndexedVersionBook(kwargs["run_versions"], kwargs["registered_versions"])

    def queues(kwargs: dict[str, Any]) -> QueueBook:
        book: QueueBook = kwargs[training_queue.QUEUE_INDEX]
        return book

    training_queue.register(registry, requeue, kind=KIND)
    indexes: list[IndexedVersionBook] = []
    queue_books: list[QueueBook] = []
    unfinished_runs = UnfinishedRuns()

    def resync_run(namespace: str, name: str) -> float | None:
        uid = unfinished_runs.uid((namespace, name))
        if uid is None or not indexes:
            return None  # finished or deleted since it was scheduled
        outcome = reconcile_training_job(
            ctx, namespace, name, versions=indexes[0], queues=queue_books[0]
        )
        post_notes(_reference(namespace, name, uid), outcome)
        if unfinished_runs.uid((namespace, name)) is None:
            return None
        return resync_after(unfinished_runs.count())

    requeue.handle(KIND, resync_run)

    @kopf.on.event(*resource, id="reconcile", registry=registry)
    def training_job(
        *,
        body: kopf.Body,
        namespace: str | None,
        name: str,
        type: str | None,
        **kwargs: Any,
    ) -> None:
        # A new run, or any run seen when the operator (re)starts (type None: the initial
        # listing). Later changes of a started run come from its Job and the resync.
        status = body.get("status") or {}
        unfinished = type != "DELETED" and _unfinished(status)
        uid = str(body.get("metadata", {}).get("uid") or "")
        unfinished_runs.observe((namespace or "", name), uid=uid, unfinished=unfinished)
        if not indexes:
            # The indexes are live views; the timed reconcile reads the versions taken from
            # them as the handlers do.
            indexes.append(book(kwargs))
            queue_books.append(queues(kwargs))
        if unfinished:
            requeue.schedule(
                KIND, namespace or "", name, after=resync_after(unfinished_runs.count())
            )
        else:
            requeue.cancel(KIND, namespace or "", name)
        if not unfinished or (type is not None and status.get("version")):
            return
        outcome = reconcile_training_job(
            ctx, namespace or "", name, versions=book(kwargs), created=body, queues=queues(kwargs)
        )
        post_notes(body, outcome)

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels=dict(TRAINING_LABELS),
        id="job-changed",
        registry=registry,
    )
    def training_job_child(
        *, body: kopf.Body, namespace: str | None, type: str | None, **kwargs: Any
    ) -> None:
        if type == "DELETED" or (
            not pods_matter(body) and not (body.get("status") or {}).get("active")
        ):
            return  # no pod has started or ended: nothing new about the run
        reconcile_owner(body, namespace or "", kwargs, pod_ended=False)

    def reconcile_owner(
        job: Mapping[str, Any], namespace: str, kwargs: dict[str, Any], *, pod_ended: bool
    ) -> None:
        for owner in job.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") != "TrainingJob" or not owner.get("controller"):
                continue
            outcome = reconcile_training_job(
                ctx,
                namespace,
                owner["name"],
                versions=book(kwargs),
                queues=queues(kwargs),
                pod_ended=pod_ended,
            )
            parent = {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "metadata": {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]},
            }
            post_notes(parent, outcome)

    @kopf.on.event("v1", "pods", labels=dict(TRAINING_LABELS), id="pod-ended", registry=registry)
    def trainer_pod(
        *, body: kopf.Body, namespace: str | None, type: str | None, **kwargs: Any
    ) -> None:
        # Only a pod that succeeded can end a run before its Job says so (a failed one is
        # retried or judged by the Job's backoff limit); its Job names the run.
        if type == "DELETED" or (body.get("status") or {}).get("phase") != "Succeeded":
            return
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") != "Job" or not owner.get("controller"):
                continue
            job = ctx.kube.get("batch/v1", "Job", str(owner["name"]), namespace or "")
            if job is not None:
                reconcile_owner(job, namespace or "", kwargs, pod_ended=True)
