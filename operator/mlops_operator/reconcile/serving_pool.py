"""One reconcile of a ServingPool: apply its servers, routers, Services and router config, place
the served versions on the ready servers (``placement.decide``), write the status.

Level-triggered and idempotent: children have deterministic names and go through server-side
apply; the last placement is read back from the pool's ConfigMap, so copies stay where they are
across reconciles and operator restarts. The pool is looked at again every ``SAMPLE_SECONDS``
for its servers' figures (memory, loads, evictions).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from mlops_core.routing import (
    ROUTER_CONFIG_KEY,
    PoolRouterConfig,
    RoutingError,
    parse_pool_router_config,
)
from mlops_operator.adapters.pool_scrape import read_server_figures
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.builders.model_server import HTTP_PORT
from mlops_operator.builders.pooled_deployment import pool_members_selector
from mlops_operator.builders.serving_pool import (
    build_pool_config_map,
    build_pool_router_account,
    build_pool_router_deployment,
    build_pool_server_deployment,
    build_pool_server_service,
    pool_router_name,
    pool_servers_selector,
)
from mlops_operator.context import OperatorContext
from mlops_operator.placement.decide import ServerSlot, VersionKey, place
from mlops_operator.placement.member import MEMBER_KEY, PoolMember, parse_member, pool_demand
from mlops_operator.placement.router_config import members_to_wake, pool_router_config
from mlops_operator.reconcile.notes import Outcome
from mlops_operator.reconcile.serving_pool_status import ObservedPool, ObservedServer, pool_status

KIND: Final = "ServingPool"
SAMPLE_SECONDS: Final = 15.0


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _observe_servers(ctx: OperatorContext, pool: ServingPool) -> list[ObservedServer]:
    pods = ctx.kube.list(
        "v1",
        "Pod",
        pool.metadata.namespace,
        label_selector=pool_servers_selector(pool.metadata.name),
    )
    servers = []
    for pod in pods:
        ready = _pod_ready(pod)
        ip = (pod.get("status") or {}).get("podIP")
        figures = (
            read_server_figures(f"{ip}:{HTTP_PORT}", timeout=ctx.settings.metrics_timeout_seconds)
            if ready and ip
            else None
        )
        servers.append(
            ObservedServer(
                name=pod["metadata"]["name"],
                ready=ready,
                loaded=figures.loaded if figures else 0,
                memory_used_bytes=figures.memory_used_bytes if figures else 0,
                loads_total=figures.loads_total if figures else 0.0,
                evictions_total=figures.evictions_total if figures else 0.0,
            )
        )
    return servers


def _previous_config(ctx: OperatorContext, pool: ServingPool) -> PoolRouterConfig | None:
    body = ctx.kube.get(
        "v1", "ConfigMap", pool_router_name(pool.metadata.name), pool.metadata.namespace
    )
    text = ((body or {}).get("data") or {}).get(ROUTER_CONFIG_KEY)
    if not text:
        return None
    try:
        return parse_pool_router_config(text)
    except RoutingError:
        return None


def _placement_of(config: PoolRouterConfig | None) -> dict[VersionKey, list[str]]:
    if config is None:
        return {}
    return {(p.model, p.version): p.servers for p in config.placements}


def _members(ctx: OperatorContext, pool: ServingPool) -> list[PoolMember]:
    """What the pooled Deployments ask of the pool (one ConfigMap each, written by their
    reconciles)."""
    bodies = ctx.kube.list(
        "v1",
        "ConfigMap",
        pool.metadata.namespace,
        label_selector=pool_members_selector(pool.metadata.name),
    )
    members = []
    for body in bodies:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            continue
        member = parse_member(((body.get("data") or {}).get(MEMBER_KEY)) or "")
        if member is not None:
            members.append(member)
    return members


def _ready_routers(ctx: OperatorContext, pool: ServingPool) -> int:
    body = ctx.kube.get(
        "apps/v1", "Deployment", pool_router_name(pool.metadata.name), pool.metadata.namespace
    )
    return int(((body or {}).get("status") or {}).get("readyReplicas") or 0)


def reconcile_serving_pool(ctx: OperatorContext, namespace: str, name: str) -> Outcome:
    """Bring ServingPool ``namespace/name`` to what it declares and report it."""
    outcome = Outcome()
    with ctx.lock(f"servingpool/{namespace}/{name}"):
        body = ctx.kube.get(API_VERSION, KIND, name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return outcome
        metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
        pool = ServingPool.from_body({**body, "metadata": metadata})
        for manifest in build_pool_router_account(pool):
            ctx.kube.apply(manifest)
        ctx.kube.apply(build_pool_server_service(pool))
        servers = _observe_servers(ctx, pool)
        budget = pool.spec.model_memory_bytes
        slots = [ServerSlot(name=s.name, ready=s.ready, budget_bytes=budget) for s in servers]
        members = _members(ctx, pool)
        demand = pool_demand(
            members, overhead_bytes=pool.spec.model_overhead_bytes, copies=pool.spec.copies
        )
        previous = _previous_config(ctx, pool)
        placement = place(slots, demand.demands, previous=_placement_of(previous))
        config = pool_router_config(
            pool=name, placement=placement, routes=demand.routes, digests=demand.digests
        )
        ctx.kube.apply(build_pool_config_map(pool, config))
        # a Deployment whose route or versions' placement changed looks again
        outcome.wake += [
            ("Deployment", namespace, d) for d in members_to_wake(members, previous, config)
        ]
        ctx.kube.apply(build_pool_server_deployment(pool, ctx.settings))
        ctx.kube.apply(build_pool_router_deployment(pool, ctx.settings))
        status = pool_status(
            pool,
            ObservedPool(
                servers=servers,
                ready_routers=_ready_routers(ctx, pool),
                placement=placement,
                deployment_of=demand.deployment_of,
                deployments=len(members),
                selector=pool_servers_selector(name),
                now=datetime.now(UTC),
            ),
        )
        new = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        old = pool.status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if new != old:
            ctx.kube.merge_patch(
                API_VERSION, KIND, name, namespace, {"status": new}, subresource="status"
            )
        outcome.requeue(SAMPLE_SECONDS)
    return outcome
