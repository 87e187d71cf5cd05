"""TrainingJob handlers: level-triggered. A run is reconciled when it appears (or is seen at
startup), whenever its Job changes, and by a slow operator-wide resync that also retries what
failed (``resync.py``).

These are watch-event handlers, not kopf's create/update handlers or timers: the run's state
lives in its status and its Job, so kopf has nothing to remember, and the operator writes
neither bookkeeping annotations nor finalizers on TrainingJobs. Per new run that leaves two
writes: the status that records its version, and its Job.

Two in-memory indexes, fed by the operator's own watches, answer "which versions of this
model are taken" without listing every TrainingJob and ModelVersion on each new run; kopf
fills them completely before any handler runs, also after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.builders.names import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import post_notes
from mlops_operator.handlers.resync import Resync, UnfinishedRuns
from mlops_operator.reconcile.job_outcome import pods_matter
from mlops_operator.reconcile.training_run import reconcile_training_job

RESYNC_SECONDS = 30.0

ModelKey = tuple[str, str]


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


def _unfinished(status: Any) -> bool:
    return (status or {}).get("phase") not in ("Succeeded", "Failed")


def _reference(namespace: str, name: str, uid: str) -> dict[str, Any]:
    """Enough of a TrainingJob to post an Event about it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext) -> None:
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

    indexes: list[IndexedVersionBook] = []
    unfinished_runs = UnfinishedRuns()

    def resync_run(namespace: str, name: str, uid: str) -> None:
        outcome = reconcile_training_job(ctx, namespace, name, versions=indexes[0])
        post_notes(_reference(namespace, name, uid), outcome)

    resync = Resync(interval=RESYNC_SECONDS, runs=unfinished_runs, reconcile=resync_run)

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
            # The indexes are live views; the resync thread reads the versions taken from
            # them as the handlers do, and posts Events from this handler's context.
            indexes.append(book(kwargs))
            resync.ensure_started()
        if not unfinished or (type is not None and status.get("version")):
            return
        outcome = reconcile_training_job(
            ctx, namespace or "", name, versions=book(kwargs), created=body
        )
        post_notes(body, outcome)

    @kopf.on.cleanup(id="trainingjob-resync-stop", registry=registry)
    def stop_resync(**_: Any) -> None:
        resync.stop()

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: "training"},
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
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") != "TrainingJob" or not owner.get("controller"):
                continue
            outcome = reconcile_training_job(
                ctx, namespace or "", owner["name"], versions=book(kwargs)
            )
            parent = {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "metadata": {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]},
            }
            post_notes(parent, outcome)
