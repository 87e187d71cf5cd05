"""The part of a Deployment's reconcile that differs when it names a ServingPool
(``spec.pool``): its versions are placed on the pool's servers and routed by the pool's
routers, so it runs no pods of its own.

What the Deployment asks of the pool (the versions to place, its split) goes into its member
ConfigMap (``placement.member``), which the pool's reconcile reads; a version counts as ready
once the pool's router config places it. The Deployment's own Service selects the pool's
routers only once that config routes it, and its own router and servers (when it moves into a
pool) are removed only after the endpoint answered through the pool. Leaving a pool goes the
other way round: the own router and servers first, the Service next, the member last
(``status.pool`` names the pool the Service selects meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_core.routing import (
    ROUTER_CONFIG_KEY,
    MirrorSpec,
    PoolRouterConfig,
    RouteBackend,
    RouterConfig,
    RoutingError,
    parse_pool_router_config,
)
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.builders.model_server import HTTP_PORT, ServedVersion
from mlops_operator.builders.names import pool_member_name, router_config_map_name
from mlops_operator.builders.pooled_deployment import (
    build_deployment_pooled_service,
    build_pool_member,
)
from mlops_operator.builders.serving_pool import (
    POOL_ROUTER_COMPONENT,
    pool_router_name,
    pool_selector,
    pool_server_name,
)
from mlops_operator.context import OperatorContext
from mlops_operator.placement.member import MemberVersion, PoolMember
from mlops_operator.reconcile.deployment_children import observe_servers
from mlops_operator.reconcile.stable_endpoint import SERVICE_NAME_LABEL
from mlops_operator.rollout.plan import Plan


@dataclass(frozen=True)
class PoolView:
    """The pool a Deployment names, and its routers' config as last written (None: not yet)."""

    pool: ServingPool
    config: PoolRouterConfig | None


def read_pool_config(ctx: OperatorContext, namespace: str, pool: str) -> PoolRouterConfig | None:
    """The pool's router config (its ConfigMap), or None when it is missing or unreadable."""
    body = ctx.kube.get("v1", "ConfigMap", pool_router_name(pool), namespace)
    text = ((body or {}).get("data") or {}).get(ROUTER_CONFIG_KEY)
    if not text:
        return None
    try:
        return parse_pool_router_config(text)
    except RoutingError:
        return None


def find_pool(ctx: OperatorContext, dep: Deployment) -> tuple[PoolView | None, str, str]:
    """The pool ``dep`` names; else None with the reason and the message of the condition."""
    name, namespace = dep.spec.pool or "", dep.metadata.namespace or ""
    body = ctx.kube.get(API_VERSION, "ServingPool", name, namespace)
    if body is not None and not body["metadata"].get("deletionTimestamp"):
        metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
        pool = ServingPool.from_body({**body, "metadata": metadata})
        return PoolView(pool, read_pool_config(ctx, namespace, name)), "", ""
    elsewhere = sorted(
        (item.get("metadata") or {}).get("namespace", "")
        for item in ctx.kube.list(API_VERSION, "ServingPool")
        if (item.get("metadata") or {}).get("name") == name
    )
    if elsewhere:
        return (
            None,
            "PoolInOtherNamespace",
            f"ServingPool {name} is in namespace {', '.join(elsewhere)}, not in {namespace}: a "
            f"Deployment is served only by a pool of its own namespace; create one here or "
            f"unset spec.pool",
        )
    return (
        None,
        "PoolNotFound",
        f"ServingPool {name} does not exist in namespace {namespace}: create it, or unset "
        f"spec.pool to serve from pods of the Deployment's own",
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def too_large(
    view: PoolView, model: str, ready: Mapping[str, ServedVersion], wanted: Iterable[str]
) -> str | None:
    """Why a version the spec asks for can never be held by one of the pool's servers."""
    spec = view.pool.spec
    for version in wanted:
        served = ready.get(version)
        if served is None or served.size_bytes is None:
            continue
        size = served.size_bytes + spec.model_overhead_bytes
        if size > spec.model_memory_bytes:
            return (
                f"{model} {version} needs {_mib(size)} (its artifact plus the pool's "
                f"modelOverhead) but each server of ServingPool {view.pool.metadata.name} holds "
                f"at most {_mib(spec.model_memory_bytes)} (modelMemory): raise the pool's "
                f"modelMemory, serve a smaller version, or unset spec.pool"
            )
    return None


def scaled_to_zero(view: PoolView) -> str | None:
    """Why the pool cannot serve anything: it runs no server."""
    name = view.pool.metadata.name
    if view.pool.spec.replicas > 0:
        return None
    return (
        f"ServingPool {name} is scaled to 0 servers: scale it up "
        f"(kubectl scale mlpool/{name} --replicas=N), or unset spec.pool"
    )


def placed(view: PoolView, model: str, ready: Iterable[str]) -> frozenset[str]:
    """The versions the pool's router config places on at least one server."""
    if view.config is None:
        return frozenset()
    return frozenset(v for v in ready if view.config.servers_of(model, v))


def pool_router_addresses(ctx: OperatorContext, dep: Deployment) -> list[str]:
    """``ip:port`` of every ready router pod of the pool (whose counters, by Deployment, a
    canary step is judged on)."""
    selector = ",".join(
        f"{k}={v}" for k, v in pool_selector(dep.spec.pool or "", POOL_ROUTER_COMPONENT).items()
    )
    addresses = []
    for pod in ctx.kube.list("v1", "Pod", dep.metadata.namespace, label_selector=selector):
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            addresses.append(f"{status['podIP']}:{HTTP_PORT}")
    return sorted(addresses)


def pool_routing(
    dep: Deployment, pool: str, weights: Mapping[str, int], mirror: MirrorSpec | None
) -> RouterConfig:
    """The split as the pool's routers read it: every backend is the pool's servers' Service
    (placement says which of its pods hold the version)."""
    service = pool_server_name(pool)
    backends = {v: RouteBackend(version=v, weight=w, service=service) for v, w in weights.items()}
    if mirror is not None and mirror.version not in backends:
        backends[mirror.version] = RouteBackend(version=mirror.version, weight=0, service=service)
    strategy = dep.spec.strategy
    ab_test = strategy.ab_test
    return RouterConfig(
        model=dep.spec.model,
        backends=[backends[v] for v in sorted(backends)],
        sticky_header=ab_test.sticky_header if ab_test is not None else None,
        mirror=mirror,
    )


def service_reaches_pool(ctx: OperatorContext, dep: Deployment, pool: str) -> bool | None:
    """Whether the ready endpoints the Deployment's Service lists are all the pool's routers
    (True), none of them (False), or a mix or none at all (None): a Service is switched over
    once its EndpointSlices say so, not when it is applied."""
    prefix = f"{pool_router_name(pool)}-"
    names = [
        str((e.get("targetRef") or {}).get("name") or "")
        for item in ctx.kube.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            dep.metadata.namespace,
            label_selector=f"{SERVICE_NAME_LABEL}={dep.metadata.name}",
        )
        for e in item.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False
    ]
    if not names:
        return None
    pooled = [n.startswith(prefix) for n in names]
    return True if all(pooled) else False if not any(pooled) else None


def _remove_own_pods(ctx: OperatorContext, dep: Deployment) -> None:
    namespace = dep.metadata.namespace
    for state in observe_servers(ctx, dep).values():
        ctx.kube.delete("apps/v1", "Deployment", state.name, namespace)
        ctx.kube.delete("v1", "Service", state.name, namespace)
    ctx.kube.delete("apps/v1", "Deployment", dep.metadata.name, namespace)
    ctx.kube.delete("v1", "ConfigMap", router_config_map_name(dep.metadata.name), namespace)


def _labels_of(body: Mapping[str, Any]) -> dict[str, str]:
    return dict((body.get("metadata") or {}).get("labels") or {})


def apply_pooled(
    ctx: OperatorContext,
    dep: Deployment,
    view: PoolView,
    plan: Plan,
    *,
    running: Iterable[str],
    ready: Mapping[str, ServedVersion],
    weights: Mapping[str, int],
    mirror: MirrorSpec | None,
    wake: list[tuple[str, str, str]],
) -> bool:
    """The member (versions to place, the split; a change wakes the pool), the Service once
    the pool routes it, and the removal of pods of its own once its EndpointSlices list only
    the pool's routers. True while the Deployment is still moving in (its own router is
    there)."""
    pool = view.pool.metadata.name
    versions = [
        MemberVersion(version=v, digest=s.digest, size_bytes=s.size_bytes)
        for v in dict.fromkeys(running)
        if (s := ready.get(v)) is not None and s.size_bytes is not None
    ]
    member = PoolMember(
        deployment=dep.metadata.name,
        model=dep.spec.model,
        versions=versions,
        routing=pool_routing(dep, pool, weights, mirror) if weights else None,
    )
    manifest = build_pool_member(dep, pool, member)
    name, namespace = manifest["metadata"]["name"], dep.metadata.namespace
    was = ctx.kube.get("v1", "ConfigMap", name, namespace)
    same = was is not None and (was.get("data") or {}) == manifest["data"]
    if not same or _labels_of(was or {}) != _labels_of(manifest):
        ctx.kube.apply(manifest)
        wake.append(("ServingPool", namespace or "", pool))
    own_router = ctx.kube.get("apps/v1", "Deployment", dep.metadata.name, namespace)
    moving_in = own_router is not None and not own_router["metadata"].get("deletionTimestamp")
    routed = view.config is not None and view.config.route(dep.metadata.name) is not None
    if not routed:
        return moving_in
    ctx.kube.apply(build_deployment_pooled_service(dep, pool))
    if (
        moving_in
        and dep.status.pool == pool
        and plan.condition == "Ready"
        and service_reaches_pool(ctx, dep, pool) is True
    ):
        _remove_own_pods(ctx, dep)
    return moving_in


def own_router_ready(ctx: OperatorContext, dep: Deployment) -> bool:
    body: dict[str, Any] | None = ctx.kube.get(
        "apps/v1", "Deployment", dep.metadata.name, dep.metadata.namespace
    )
    if body is None:
        return False
    wanted = int((body.get("spec") or {}).get("replicas", 1))
    return int((body.get("status") or {}).get("readyReplicas", 0)) >= wanted


def forget_pool(ctx: OperatorContext, dep: Deployment) -> None:
    """The member removed (the pool stops placing and routing the Deployment)."""
    ctx.kube.delete("v1", "ConfigMap", pool_member_name(dep.metadata.name), dep.metadata.namespace)
