"""The stable endpoint as observed: the router Deployment's rollout, the ready endpoints its
Service lists, and (when asked for) whether the Service answers. Named by Service and router
Deployment, so anything served behind a router reads it the same way; the rule that judges
it is ``rollout.endpoint``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from mlops_operator.adapters.endpoint_probe import probe_endpoint
from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.serving_pool import pool_router_name
from mlops_operator.context import OperatorContext
from mlops_operator.rollout.endpoint import (
    EndpointObserved,
    RouterRollout,
    endpoint_problem,
    gate_ready,
    routing_problem,
)
from mlops_operator.rollout.plan import Plan

if TYPE_CHECKING:
    from mlops_operator.reconcile.pooled_deployment import PoolView

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"


def ready_in_slice(item: Mapping[str, Any]) -> int:
    """Ready, not terminating, endpoints of one EndpointSlice (an endpoint without a ready
    condition counts as ready, as the EndpointSlice API says)."""
    return sum(
        1
        for e in item.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False
        and not (e.get("conditions") or {}).get("terminating")
    )


def _router_rollout(body: Mapping[str, Any] | None) -> RouterRollout:
    if body is None:
        return RouterRollout(wanted=None, ready=0, updated=0, current_generation_observed=False)
    spec, status = body.get("spec") or {}, body.get("status") or {}
    generation = body["metadata"].get("generation", 0)
    return RouterRollout(
        wanted=int(spec.get("replicas", 1)),
        ready=int(status.get("readyReplicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        current_generation_observed=status.get("observedGeneration", 0) >= generation,
    )


def observe_endpoint(
    ctx: OperatorContext, namespace: str, *, service: str, router: str, probe: bool
) -> EndpointObserved:
    """Service ``service`` in front of router Deployment ``router``; the Service is asked (once
    per router pod) only when ``probe`` and the routing already looks complete."""
    rollout = _router_rollout(ctx.kube.get("apps/v1", "Deployment", router, namespace))
    slices = ctx.kube.list(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        namespace,
        label_selector=f"{SERVICE_NAME_LABEL}={service}",
    )
    listed = sum(ready_in_slice(item) for item in slices)
    answer = None
    if probe and routing_problem(rollout, listed) is None:
        body = ctx.kube.get("v1", "Service", service, namespace) or {}
        spec = body.get("spec") or {}
        ports = spec.get("ports") or []
        if spec.get("clusterIP") in (None, "", "None") or not ports:
            answer = "the Service has no cluster address yet"
        else:
            address = f"{spec['clusterIP']}:{ports[0]['port']}"
            answer = probe_endpoint(address, tries=rollout.wanted or 1)
    return EndpointObserved(service=service, router=rollout, listed=listed, probe=answer)


def gate_on_endpoint(
    ctx: OperatorContext, dep: Deployment, plan: Plan, view: PoolView | None = None
) -> Plan:
    """``plan`` with its ``Ready`` held back until Deployment ``dep``'s stable endpoint answers.
    The Service is asked on the way to ``Ready`` (not on every later reconcile: the router's
    rollout and EndpointSlices keep being checked, and a router that stops being ready takes
    ``Ready`` back)."""
    if plan.condition != "Ready":
        return plan
    was = find_condition(dep.status.conditions, READY)
    probing = ctx.settings.endpoint_probe and not (
        was is not None and was.status == "True" and was.reason == plan.reason
    )
    name = dep.metadata.name
    router = pool_router_name(view.pool.metadata.name) if view is not None else name
    observed = observe_endpoint(
        ctx, dep.metadata.namespace or "", service=name, router=router, probe=probing
    )
    return gate_ready(plan, endpoint_problem(observed, probing=probing))
