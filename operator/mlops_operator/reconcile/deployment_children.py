"""A Deployment's children as observed (server Deployments per version, router pods) and as
applied: every served version's server, the router with its weights, and the removal of
versions that have drained."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_core.routing import MirrorSpec
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.model_server import (
    HTTP_PORT,
    ServedVersion,
    all_servers_selector,
    build_server_deployment,
    build_server_service,
)
from mlops_operator.builders.names import LABEL_VERSION, server_name
from mlops_operator.builders.router import (
    build_router_account,
    build_router_config_map,
    build_router_deployment,
    build_router_service,
    router_config,
    router_pods_selector,
)
from mlops_operator.context import OperatorContext
from mlops_operator.reconcile.stable_endpoint import SERVICE_NAME_LABEL, ready_in_slice


@dataclass(frozen=True)
class ServerState:
    """One version's server Deployment as observed."""

    name: str
    replicas: int
    ready_replicas: int
    ready: bool


def _server_ready(body: Mapping[str, Any]) -> bool:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    generation = body["metadata"].get("generation", 0)
    return (
        status.get("observedGeneration", 0) >= generation
        and int(status.get("updatedReplicas", 0)) >= wanted
        and int(status.get("readyReplicas", 0)) >= wanted
        and int(status.get("replicas", 0)) == wanted
    )


def observe_servers(ctx: OperatorContext, dep: Deployment) -> dict[str, ServerState]:
    """The version servers that exist, by version (label ``mlops.dev/version``)."""
    found: dict[str, ServerState] = {}
    bodies = ctx.kube.list(
        "apps/v1", "Deployment", dep.metadata.namespace, label_selector=all_servers_selector(dep)
    )
    for body in bodies:
        version = (body["metadata"].get("labels") or {}).get(LABEL_VERSION)
        if not version:
            continue
        status = body.get("status") or {}
        found[version] = ServerState(
            name=body["metadata"]["name"],
            replicas=int(status.get("replicas", 0)),
            ready_replicas=int(status.get("readyReplicas", 0)),
            ready=_server_ready(body),
        )
    return found


def ready_endpoints(ctx: OperatorContext, dep: Deployment) -> dict[str, int]:
    """Ready endpoints per version Service, as the routers see them (EndpointSlices carry
    their Service's labels): a version gets traffic only once they are listed there too."""
    counts: dict[str, int] = {}
    slices = ctx.kube.list(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        dep.metadata.namespace,
        label_selector=all_servers_selector(dep),
    )
    for item in slices:
        service = (item["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL, "")
        counts[service] = counts.get(service, 0) + ready_in_slice(item)
    return counts


def router_addresses(ctx: OperatorContext, dep: Deployment) -> list[str]:
    """``ip:port`` of every ready router pod (whose counters the canary is judged on)."""
    pods = ctx.kube.list(
        "v1", "Pod", dep.metadata.namespace, label_selector=router_pods_selector(dep)
    )
    addresses = []
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            addresses.append(f"{status['podIP']}:{HTTP_PORT}")
    return sorted(addresses)


def provision_router_account(ctx: OperatorContext, dep: Deployment) -> None:
    """The router pods' own account, applied once per Deployment (uid) and operator run."""
    key = f"router/{dep.metadata.namespace}/{dep.metadata.name}/{dep.metadata.uid}"
    with ctx.lock(f"provision-{key}"):
        if key in ctx.provisioned:
            return
        for manifest in build_router_account(dep):
            ctx.kube.apply(manifest)
        ctx.provisioned.add(key)


def apply_servers(
    ctx: OperatorContext,
    dep: Deployment,
    versions: Iterable[str],
    ready: Mapping[str, ServedVersion],
) -> None:
    """Each version's server Deployment and Service (server-side apply: idempotent). A version
    no longer Ready in the registry keeps what runs (it cannot be rebuilt) until it drains."""
    for version in versions:
        served = ready.get(version)
        if served is None:
            continue
        ctx.kube.apply(build_server_service(dep, version))
        ctx.kube.apply(
            build_server_deployment(dep, served, replicas=dep.spec.replicas, settings=ctx.settings)
        )


def apply_router(
    ctx: OperatorContext,
    dep: Deployment,
    weights: Mapping[str, int],
    *,
    mirror: MirrorSpec | None,
    service: bool = True,
) -> None:
    """Weights first, then the router that reads them and (unless ``service`` is False) the
    Service in front of it."""
    provision_router_account(ctx, dep)
    config = router_config(dep, weights, mirror=mirror)
    ctx.kube.apply(build_router_config_map(dep, config))
    ctx.kube.apply(build_router_deployment(dep, ctx.settings))
    if service:
        ctx.kube.apply(build_router_service(dep))


def delete_server(ctx: OperatorContext, dep: Deployment, version: str) -> None:
    name = server_name(dep.metadata.name, version)
    ctx.kube.delete("apps/v1", "Deployment", name, dep.metadata.namespace)
    ctx.kube.delete("v1", "Service", name, dep.metadata.namespace)
