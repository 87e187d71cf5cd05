"""One reconcile of a Deployment: read the registry and the children, decide the rollout's next
move (``rollout.decide``), apply the children and weights, write the status.

Level-triggered and idempotent: the rollout's step, its counter baseline and the versions
draining live in status, the children have deterministic names and are applied with
server-side apply, so a reconcile repeated, or resumed after the operator was killed, goes on
from where the last one left off and creates nothing twice.

``Ready`` is written only once the stable endpoint answers (``rollout.endpoint``): the rollout may
be done while the router pods, the Service's EndpointSlices or the Service proxy are not yet.

Order of writes, so that no request fails during a switch: the new version's servers first
(they get traffic only once ready); then the weights; a version that leaves keeps its pods (and
a weight-0 place in the router's config, so a router that has not yet seen the new version's
endpoints still has somewhere to send) for ``MLOPS_DRAIN_SECONDS`` before it is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mlops_core.routing import MirrorSpec
from mlops_operator.adapters.router_metrics import RouterScrape, scrape_routers
from mlops_operator.api.deployment import ROLLOUT_REQUEST_ANNOTATION, Deployment
from mlops_operator.api.deployment_status import DeploymentStatus, DrainingVersion
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.name_limits import SERVER_NAME_SUFFIX_PATTERN
from mlops_operator.builders.model_server import ArtifactLayoutError, all_servers_selector
from mlops_operator.builders.names import (
    SERVICE_NAME_MAX,
    SERVICE_NAME_PATTERN,
    label_value,
    server_name,
)
from mlops_operator.builders.router import endpoint_url
from mlops_operator.context import OperatorContext
from mlops_operator.reconcile.deployment_children import (
    ServerState,
    apply_router,
    apply_servers,
    delete_server,
    observe_servers,
    ready_endpoints,
    router_addresses,
)
from mlops_operator.reconcile.deployment_report import deployment_status
from mlops_operator.reconcile.deployment_sources import Sources, read_sources
from mlops_operator.reconcile.deployment_watch import monitor
from mlops_operator.reconcile.model_versions import VersionsOf
from mlops_operator.reconcile.notes import Note, Outcome
from mlops_operator.reconcile.pooled_deployment import (
    PoolView,
    apply_pooled,
    find_pool,
    forget_pool,
    own_router_ready,
    placed,
    pool_router_addresses,
    scaled_to_zero,
    service_reaches_pool,
    too_large,
)
from mlops_operator.reconcile.stable_endpoint import gate_on_endpoint
from mlops_operator.rollout.ab_test import ab_test_plan
from mlops_operator.rollout.decide import decide
from mlops_operator.rollout.plan import POLL_SECONDS, Observed, Plan, RolloutRequest

_REQUEST = re.compile(r"^(promote|abort|retry)/(.+)$")
POOLED_LOOK_SECONDS: Final = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(body: Mapping[str, Any]) -> Deployment:
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return Deployment.from_body({**body, "metadata": metadata})


def rollout_request(dep: Deployment) -> RolloutRequest | None:
    value = (dep.metadata.annotations or {}).get(ROLLOUT_REQUEST_ANNOTATION, "")
    match = _REQUEST.match(value)
    if match is None:
        return None
    return RolloutRequest(action=match.group(1), token=value)  # type: ignore[arg-type]


def _write_status(ctx: OperatorContext, dep: Deployment, status: DeploymentStatus) -> None:
    new = status.model_dump(mode="json", by_alias=True)
    if new == dep.status.model_dump(mode="json", by_alias=True):
        return
    ctx.kube.merge_patch(
        API_VERSION,
        "Deployment",
        dep.metadata.name,
        dep.metadata.namespace,
        {"status": new},
        subresource="status",
    )


def _invalid_name(dep: Deployment) -> str | None:
    name = dep.metadata.name
    if len(name) > SERVICE_NAME_MAX or not re.match(SERVICE_NAME_PATTERN, name):
        return (
            f"the router Service is named after the Deployment, so {name!r} must be a DNS "
            f"label (a letter first, lowercase letters, digits and '-', at most "
            f"{SERVICE_NAME_MAX} characters): rename the Deployment"
        )
    if re.search(SERVER_NAME_SUFFIX_PATTERN, name):
        return (
            f"{name!r} ends like the name of a version server (Deployment fraud serving 1.2.0 "
            f"has the server fraud-v1-2-0), whose Service this Deployment's router would take "
            f"over: rename the Deployment (e.g. without the 'v')"
        )
    return None


def _stalled_plan(dep: Deployment, message: str, reason: str) -> Plan:
    return Plan(
        weights={v.version: v.weight for v in dep.status.traffic},
        stable=dep.status.stable_version,
        canary=dep.status.canary_version,
        state=dep.status.rollout,
        phase=dep.status.phase or "Pending",
        condition="Stalled",
        reason=reason,
        message=message,
    )


@dataclass(frozen=True)
class Observation:
    """What one reconcile read: the rollout's input, the registry, the server Deployments (by
    version label) and the routers' metrics (scraped once, when the canary analysis or the A/B
    test's error rate needs them)."""

    observed: Observed
    sources: Sources
    servers: dict[str, ServerState]
    routers: RouterScrape | None


def _needs_router_metrics(dep: Deployment, sources: Sources) -> bool:
    stable = dep.status.stable_version
    strategy = dep.spec.strategy
    if strategy.type == "canary":
        rolling = sources.desired not in (None, stable) or dep.status.rollout.target is not None
        return rolling and stable is not None
    concluded = dep.status.ab_test is not None and dep.status.ab_test.concluded
    ab_test = strategy.ab_test
    return ab_test is not None and ab_test.metric == "error-rate" and not concluded


def _observe(
    ctx: OperatorContext,
    dep: Deployment,
    now: datetime,
    view: PoolView | None,
    versions_of: VersionsOf | None,
) -> Observation:
    sources = read_sources(ctx.kube, dep, versions_of=versions_of)
    if view is not None:  # served by the pool: a version is ready once it is placed
        servers: dict[str, ServerState] = {}
        pods_ready = ready = placed(view, dep.spec.model, sources.ready)
    else:
        servers = observe_servers(ctx, dep)
        endpoints = ready_endpoints(ctx, dep)
        pods_ready = frozenset(
            v for v in sources.ready if (s := servers.get(label_value(v))) is not None and s.ready
        )
        ready = frozenset(
            v
            for v in pods_ready
            if endpoints.get(server_name(dep.metadata.name, v), 0) >= min(1, dep.spec.replicas)
        )
    routers = None
    if _needs_router_metrics(dep, sources):
        addresses = pool_router_addresses(ctx, dep) if view else router_addresses(ctx, dep)
        routers = scrape_routers(
            addresses,
            timeout=ctx.settings.metrics_timeout_seconds,
            deployment=dep.metadata.name if view else None,
        )
    totals, metrics_error = None, None
    if routers is not None and dep.spec.strategy.type == "canary":
        totals, metrics_error = routers.all_pods()
    observed = Observed(
        desired=sources.desired,
        problem=sources.problem,
        problem_is_stalled=sources.stalled,
        stable=dep.status.stable_version,
        state=dep.status.rollout,
        strategy=dep.spec.strategy,
        paused=dep.spec.paused,
        request=rollout_request(dep),
        ready=ready,
        totals=totals,
        metrics_error=metrics_error,
        progress_deadline_seconds=dep.spec.progress_deadline_seconds,
        now=now,
        pods_ready=pods_ready,
    )
    return Observation(observed, sources, servers, routers)


def _apply(
    ctx: OperatorContext,
    dep: Deployment,
    plan: Plan,
    seen: Observation,
    view: PoolView | None,
    now: datetime,
    wake: list[tuple[str, str, str]],
) -> float | None:
    """Children and weights; returns when a draining version is due for removal."""
    sources, servers = seen.sources, seen.servers
    drain = ctx.settings.drain_seconds
    due = [d for d in plan.state.draining if (now - d.since).total_seconds() >= drain]
    plan.state.draining = [d for d in plan.state.draining if d not in due]
    leaving = [d.version for d in plan.state.draining if d.version not in plan.weights]
    extra = [v for v in (plan.canary, sources.mirror) if v]
    running = [*plan.weights, *extra, *leaving]
    weights = {**plan.weights, **dict.fromkeys(leaving, 0)} if plan.weights else {}
    mirror = dep.spec.strategy.mirror
    spec = (
        MirrorSpec(version=mirror.version, percent=mirror.percent)
        if sources.mirror and mirror
        else None
    )
    if view is not None:
        moving_in = apply_pooled(
            ctx,
            dep,
            view,
            plan,
            running=running,
            ready=sources.ready,
            weights=weights,
            mirror=spec,
            wake=wake,
        )
        due_next = _drain_due(plan, drain, now)
        return min(due_next or POLL_SECONDS, POLL_SECONDS) if moving_in else due_next
    apply_servers(ctx, dep, dict.fromkeys(running), sources.ready)
    if weights:
        # moving out of a pool: the Service keeps selecting the pool's routers until the
        # Deployment's own router is ready
        service = dep.status.pool is None or own_router_ready(ctx, dep)
        apply_router(ctx, dep, weights, mirror=spec, service=service)
    keep = {label_value(v) for v in running}
    for version_label in servers:
        if version_label not in keep:
            delete_server(ctx, dep, version_label_to_version(version_label, due))
    for item in due:
        if label_value(item.version) not in keep:
            delete_server(ctx, dep, item.version)
    return _drain_due(plan, drain, now)


def _drain_due(plan: Plan, drain: float, now: datetime) -> float | None:
    if not plan.state.draining:
        return None
    soonest = min(d.since for d in plan.state.draining)
    return max(0.1, drain - (now - soonest).total_seconds())


def version_label_to_version(label: str, due: list[DrainingVersion]) -> str:
    """A server seen only by its version label: the label is the version unless it had to be
    changed to be a label (build metadata), in which case the drained entry names it."""
    for item in due:
        if label_value(item.version) == label:
            return str(item.version)
    return label


def _serving_pool(
    ctx: OperatorContext, dep: Deployment, plan: Plan, view: PoolView | None
) -> str | None:
    """The pool whose routers the Service selects after this reconcile. Out of a pool, the
    member goes once the Service reaches the Deployment's own router and it answered."""
    if view is not None:
        config = view.config
        routed = config is not None and config.route(dep.metadata.name) is not None
        return view.pool.metadata.name if routed else dep.status.pool
    if dep.status.pool is not None and dep.spec.pool is None:
        moved = service_reaches_pool(ctx, dep, dep.status.pool) is False
        if plan.condition == "Ready" and own_router_ready(ctx, dep) and moved:
            forget_pool(ctx, dep)
            return None
        return dep.status.pool
    return dep.status.pool if dep.spec.pool is not None else None


def _pool_look(dep: Deployment, status: DeploymentStatus) -> float | None:
    """When a Deployment moving into or out of a pool looks again; a pooled one looks now
    and then for its pool's placement too (its changes also wake it, see the handlers)."""
    if status.pool != dep.spec.pool:
        return POLL_SECONDS
    return POOLED_LOOK_SECONDS if dep.spec.pool is not None else None


def reconcile_deployment(
    ctx: OperatorContext, namespace: str, name: str, *, versions_of: VersionsOf | None = None
) -> Outcome:
    """Move Deployment ``namespace/name`` one step further (``versions_of``: its Model's
    versions from the operator's watch index; without it they are listed)."""
    outcome = Outcome()
    with ctx.lock(f"deployment/{namespace}/{name}"):
        body = ctx.kube.get(API_VERSION, "Deployment", name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return outcome
        dep = _parse(body)
        now = _now()
        problem = _invalid_name(dep)
        reason = "InvalidName"
        view: PoolView | None = None
        if problem is None and dep.spec.pool is not None:
            view, reason, message = find_pool(ctx, dep)
            problem = message or None
        seen: Observation | None = None
        if problem is not None:
            plan = _stalled_plan(dep, problem, reason)
        else:
            seen = _observe(ctx, dep, now, view, versions_of)
            ab_test = dep.spec.strategy.ab_test
            big = (
                too_large(view, dep.spec.model, seen.sources.ready, seen.sources.wanted())
                if view is not None
                else None
            )
            stopped = scaled_to_zero(view) if view is not None else None
            if big is not None:
                plan = _stalled_plan(dep, big, "ModelTooLarge")
            elif stopped is not None:
                plan = _stalled_plan(dep, stopped, "PoolScaledToZero")
            elif ab_test is not None and seen.sources.problem is None:
                plan = ab_test_plan(
                    ab_test,
                    dep.status.ab_test,
                    state=dep.status.rollout,
                    ready=seen.observed.ready,
                    now=now,
                )
            else:
                plan = decide(seen.observed)
        drain_due = None
        if seen is not None:
            try:
                drain_due = _apply(ctx, dep, plan, seen, view, now, outcome.wake)
            except ArtifactLayoutError as exc:
                plan = _stalled_plan(dep, str(exc), "ArtifactLayout")
            plan = gate_on_endpoint(ctx, dep, plan, view)
        weighted = {label_value(x) for x in plan.weights}
        serving = [s for v, s in (seen.servers if seen else {}).items() if v in weighted]
        status = deployment_status(
            dep,
            plan,
            endpoint=endpoint_url(dep),
            replicas=sum(s.replicas for s in serving),
            ready_replicas=sum(s.ready_replicas for s in serving),
            label_selector=all_servers_selector(dep),
            now=now,
            pool=_serving_pool(ctx, dep, plan, view),
        )
        watched = None
        if seen is not None:
            artifacts = {v: served.artifact_uri for v, served in seen.sources.ready.items()}
            status, notes, outcome.alerts, watched = monitor(
                ctx,
                dep,
                plan,
                status,
                artifacts=artifacts,
                routers=seen.routers,
                now=now,
                pool=view,
            )
            outcome.notes += notes
            was, verdict = dep.status.ab_test, status.ab_test
            if verdict is not None and verdict.concluded and not (was and was.concluded):
                outcome.requeue(0.1)  # the verdict changes the traffic: plan it right away
        _write_status(ctx, dep, status)
        outcome.notes += [Note(kind, reason, message) for kind, reason, message in plan.events]
        for after in (plan.requeue_after, drain_due, watched, _pool_look(dep, status)):
            if after is not None:
                outcome.requeue(after)
    return outcome
