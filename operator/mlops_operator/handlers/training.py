"""TrainingJob handlers: reconcile on create/resume, on every change of its Job, and on a
slow timer as a safety net for missed watch events.

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
from mlops_operator.handlers.posting import finish, post_notes
from mlops_operator.kopf_config import HANDLER_RETRIES
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

    @kopf.on.resume(*resource, id="reconcile", registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.create(*resource, id="reconcile", registry=registry, retries=HANDLER_RETRIES)
    def training_job(
        *, body: kopf.Body, namespace: str | None, name: str, retry: int, **kwargs: Any
    ) -> None:
        outcome = reconcile_training_job(ctx, namespace or "", name, versions=book(kwargs))
        finish(body, outcome, retry=retry)

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
    def training_job_child(*, body: kopf.Body, namespace: str | None, **kwargs: Any) -> None:
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
