"""TrainingJob handlers: reconcile on create/resume, on every change of its Job, and on a
slow timer as a safety net for missed watch events."""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.builders.names import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import finish, post_notes
from mlops_operator.kopf_config import HANDLER_RETRIES
from mlops_operator.reconcile.training_run import reconcile_training_job

TIMER_SECONDS = 30.0


def _running(status: Any, **_: Any) -> bool:
    return (status or {}).get("phase") not in ("Succeeded", "Failed")


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext) -> None:
    resource = (GROUP, VERSION, "trainingjobs")

    @kopf.on.resume(*resource, registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.create(*resource, registry=registry, retries=HANDLER_RETRIES)
    def training_job(
        *, body: kopf.Body, namespace: str | None, name: str, retry: int, **_: Any
    ) -> None:
        finish(body, reconcile_training_job(ctx, namespace or "", name), retry=retry)

    @kopf.timer(
        *resource,
        interval=TIMER_SECONDS,
        initial_delay=TIMER_SECONDS,
        when=_running,
        registry=registry,
    )
    def training_job_timer(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> None:
        post_notes(body, reconcile_training_job(ctx, namespace or "", name))

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: "training"},
        registry=registry,
    )
    def training_job_child(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") != "TrainingJob" or not owner.get("controller"):
                continue
            outcome = reconcile_training_job(ctx, namespace or "", owner["name"])
            parent = {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "metadata": {"name": owner["name"], "namespace": namespace, "uid": owner["uid"]},
            }
            post_notes(parent, outcome)
