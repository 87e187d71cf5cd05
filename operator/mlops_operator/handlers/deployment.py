"""Deployment handlers (thin): every event that can change a Deployment's rollout puts it on
the operator-wide requeue, due now; the requeue's thread reconciles it, posts the Events and
schedules the next timed look (a canary interval, a drain) that the reconcile asks for. One
thread for all of them means one reconcile of a Deployment at a time, and a failed reconcile
is tried again with a growing delay.

Events that count: the Deployment's spec or rollout-request annotation changing (not its own
status writes), its version servers' and routers' readiness (their apps/v1 Deployments), and
the registry (its Model appearing, a ModelVersion of it appearing, going, or changing what the
sources read of it: becoming Ready, changing stage or artifact).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, Final

import kopf

from mlops_operator.adapters.alert_senders import AlertSender
from mlops_operator.api.deployment import ROLLOUT_REQUEST_ANNOTATION
from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.builders.model_server import SERVING_COMPONENT
from mlops_operator.builders.names import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY
from mlops_operator.builders.router import ROUTER_COMPONENT
from mlops_operator.builders.serving_pool import LABEL_POOL, POOL_ROUTER_COMPONENT
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.alert_delivery import kube_secret_reader, send_batch
from mlops_operator.handlers.posting import post_notes
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.handlers.version_index import ModelVersions
from mlops_operator.reconcile.deployment import reconcile_deployment
from mlops_operator.reconcile.deployment_sources import source_signature

KIND: Final = "Deployment"


def _acted_on(body: kopf.Body) -> bool:
    """Whether the operator has already acted on this spec and rollout request."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body.get("metadata", {}).get("generation"):
        return False
    request = (body.get("metadata", {}).get("annotations") or {}).get(ROLLOUT_REQUEST_ANNOTATION)
    return not request or request == (status.get("rollout") or {}).get("handledRequest")


def register(
    registry: kopf.OperatorRegistry,
    ctx: OperatorContext,
    requeue: Requeue,
    versions: ModelVersions,
) -> None:
    resource = (GROUP, VERSION, "deployments")
    #: (namespace, name) → uid, and → the Model served, as the last watch event showed them
    uids: dict[tuple[str, str], str] = {}
    pools: dict[tuple[str, str], str] = {}  # the pool each pooled Deployment names
    models: dict[tuple[str, str], str] = {}
    guard = threading.Lock()

    sender = AlertSender(kube_secret_reader(ctx.kube))

    def timed(namespace: str, name: str) -> float | None:
        with guard:
            uid = uids.get((namespace, name))
        if uid is None:
            return None  # deleted since it was scheduled
        outcome = reconcile_deployment(ctx, namespace, name, versions_of=versions.of_model)
        warnings, retry = send_batch(
            ctx.kube, sender, outcome.alerts, kind=KIND, now=datetime.now(UTC)
        )
        outcome.notes += warnings
        if retry is not None:
            outcome.requeue(max(retry, 1.0))
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

    @kopf.on.event(*resource, id="deployment", registry=registry)
    def deployment(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **kwargs: Any
    ) -> None:
        versions.capture(kwargs)
        key = (namespace or "", name)
        if type == "DELETED":
            with guard:
                uids.pop(key, None)
                pools.pop(key, None)
                models.pop(key, None)
            requeue.cancel(KIND, *key)
            return
        with guard:
            uids[key] = str(body.get("metadata", {}).get("uid") or "")
            pool = (body.get("spec") or {}).get("pool")
            if pool:
                pools[key] = str(pool)
            else:
                pools.pop(key, None)
            models[key] = str((body.get("spec") or {}).get("model") or "")
        # the initial listing (type None) and new objects always; later events only when the
        # spec or the request changed: the operator's own status writes are no news
        if type in (None, "ADDED") or not _acted_on(body):
            # a new spec or request goes before the looks its children's events ask for
            requeue.schedule(KIND, *key, after=0, change=type is not None)

    def owners(namespace: str, model: str) -> list[str]:
        # from the watch events, not one read per Deployment: a registry event must cost the
        # same with ten Deployments in the namespace as with a thousand
        with guard:
            return [n for (ns, n), served in models.items() if ns == namespace and served == model]

    #: (namespace, ModelVersion) → what the Deployments' sources read of it at its last event
    signatures: dict[tuple[str, str], tuple[Any, ...]] = {}

    @kopf.on.event(GROUP, VERSION, "modelversions", id="deployment-sources", registry=registry)
    def model_version(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **_: Any
    ) -> None:
        model = (body.get("spec") or {}).get("model")
        key = (namespace or "", name)
        if type == "DELETED":
            with guard:
                signatures.pop(key, None)
        else:
            # only news for a Deployment: a version appearing, going, or changing what its
            # sources read (not a description, nor the operator's own bookkeeping writes)
            signature = source_signature(body)
            with guard:
                unchanged = signatures.get(key) == signature
                signatures[key] = signature
            if unchanged:
                return
        if not model:
            return
        for deployment_name in owners(namespace or "", str(model)):
            requeue.schedule(KIND, namespace or "", deployment_name, after=0)

    @kopf.on.event(GROUP, VERSION, "models", id="deployment-model", registry=registry)
    def model(*, namespace: str | None, name: str, type: str | None, **_: Any) -> None:
        if type in (None, "ADDED", "DELETED"):  # a Model that appears (or goes) changes sources
            for deployment_name in owners(namespace or "", name):
                requeue.schedule(KIND, namespace or "", deployment_name, after=0)

    def child(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            key = (namespace or "", str(owner.get("name")))
            if owner.get("kind") == KIND and owner.get("apiVersion") == API_VERSION and key in uids:
                requeue.schedule(KIND, *key, after=0)

    def members(namespace: str, pool: str) -> None:
        """A pool's placement or routers changed: its Deployments look again."""
        with guard:
            names = [n for (ns, n), p in pools.items() if ns == namespace and p == pool]
        for name in names:
            requeue.schedule(KIND, namespace, name, after=0)

    @kopf.on.event(GROUP, VERSION, "servingpools", id="deployment-pool", registry=registry)
    def serving_pool(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **_: Any
    ) -> None:
        # a pool appearing, going or changing its spec (not its own status writes)
        if type in (None, "ADDED", "DELETED") or not _acted_on(body):
            members(namespace or "", name)

    def pool_routers(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        pool = (body.get("metadata", {}).get("labels") or {}).get(LABEL_POOL)
        if pool:
            members(namespace or "", str(pool))

    kopf.on.event(
        "apps",
        "v1",
        "deployments",
        labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: POOL_ROUTER_COMPONENT},
        id="deployment-pool-routers",
        registry=registry,
    )(pool_routers)

    for component, handler_id in (
        (SERVING_COMPONENT, "version-server"),
        (ROUTER_COMPONENT, "router"),
    ):
        kopf.on.event(
            "apps",
            "v1",
            "deployments",
            labels={LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: component},
            id=handler_id,
            registry=registry,
        )(child)
