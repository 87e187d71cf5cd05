"""TrainingJob handlers: level-triggered. A run is reconciled when it appears (or is seen at
startup), whenever its Job changes, and on a slow timer that also retries what failed.

These are watch-event handlers, not kopf's create/update handlers: the run's state lives in
its status and its Job, so kopf has nothing to remember, and the operator writes no
bookkeeping annotations on TrainingJobs (one write per run fewer).

Two in-memory indexes, fed by the operator's own watches, answer "which versions of this
model are taken" without listing every TrainingJob and ModelVersion on each new run; kopf
fills them completely before any handler runs, also after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kopf

from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.builders.names import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import post_notes
from mlops_operator.reconcile.job_outcome import pods_matter
from mlops_operator.reconcile.training_run import reconcile_training_job

TIMER_SECONDS = 30.0

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


def _running(status: Any, **_: Any) -> bool:
    return (status or {}).get("phase") not in ("Succeeded", "Failed")


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
        # listing). Later changes of a started run come from its Job and the timer.
        status = body.get("status") or {}
        if type == "DELETED" or status.get("phase") in ("Succeeded", "Failed"):
            return
        if type is not None and status.get("version"):
            return
        outcome = reconcile_training_job(
            ctx, namespace or "", name, versions=book(kwargs), created=body
        )
        post_notes(body, outcome)

    @kopf.timer(
        *resource,
        interval=TIMER_SECONDS,
        initial_delay=TIMER_SECONDS,
        when=_running,
        id="resync",
        registry=registry,
    )
    def training_job_timer(
        *, body: kopf.Body, namespace: str | None, name: str, **kwargs: Any
    ) -> None:
        post_notes(body, reconcile_training_job(ctx, namespace or "", name, versions=book(kwargs)))

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
