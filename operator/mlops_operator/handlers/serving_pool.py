"""ServingPool handlers (thin): a pool's spec changing, or its server and router Deployments
changing, puts it on the operator-wide requeue, due now; the reconcile asks for a look every
few seconds to read its servers' figures."""

from __future__ import annotations

import threading
from typing import Any

import kopf

from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.builders.names import LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.builders.serving_pool import LABEL_POOL
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import post_notes
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.reconcile.serving_pool import KIND, reconcile_serving_pool


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, requeue: Requeue) -> None:
    uids: dict[tuple[str, str], str] = {}
    guard = threading.Lock()

    def timed(namespace: str, name: str) -> float | None:
        with guard:
            uid = uids.get((namespace, name))
        if uid is None:
            return None
        outcome = reconcile_serving_pool(ctx, namespace, name)
        reference = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, "uid": uid},
        }
        post_notes(reference, outcome)
        for kind, other_namespace, other in outcome.wake:
            requeue.schedule(kind, other_namespace, other, after=0)
        return outcome.requeue_after

    requeue.handle(KIND, timed)

    @kopf.on.event(GROUP, VERSION, "servingpools", id="servingpool", registry=registry)
    def serving_pool(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **_: Any
    ) -> None:
        key = (namespace or "", name)
        if type == "DELETED":
            with guard:
                uids.pop(key, None)
            requeue.cancel(KIND, *key)
            return
        with guard:
            uids[key] = str(body.get("metadata", {}).get("uid") or "")
        status = body.get("status") or {}
        if type in (None, "ADDED") or status.get("observedGeneration") != body.get(
            "metadata", {}
        ).get("generation"):
            requeue.schedule(KIND, *key, after=0)

    @kopf.on.event(
        "apps",
        "v1",
        "deployments",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_POOL: kopf.PRESENT},
        id="servingpool-children",
        registry=registry,
    )
    def children(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            key = (namespace or "", str(owner.get("name")))
            if owner.get("kind") == KIND and key in uids:
                requeue.schedule(KIND, *key, after=0)
