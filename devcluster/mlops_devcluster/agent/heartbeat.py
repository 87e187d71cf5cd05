"""Registering the nodes and keeping them Ready: Node status and Lease renewals."""

from __future__ import annotations

import logging
from typing import Final

import urllib3

from mlops_devcluster.agent.nodes import (
    LEASE_NAMESPACE,
    NodeSpec,
    build_lease,
    build_node,
    build_node_status,
    node_capacity,
    now,
    now_micro,
)
from mlops_devcluster.kube import ApiError, Kube, resource_path

HEARTBEAT_SECONDS: Final = 10.0
log = logging.getLogger(__name__)


def register_node(kube: Kube, spec: NodeSpec, *, since: str, log_port: int) -> str:
    """Create the Node (or bring its labels and taints up to date); write a Ready status.
    Returns its uid."""
    body = build_node(spec)
    path = resource_path(api_version="v1", plural="nodes")
    try:
        node = kube.create(path, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
        node = kube.merge_patch(
            resource_path(api_version="v1", plural="nodes", name=spec.name),
            {"metadata": {"labels": body["metadata"]["labels"]}, "spec": body["spec"]},
        )
    post_status(kube, spec, since=since, log_port=log_port)
    return str(node["metadata"]["uid"])


def post_status(kube: Kube, spec: NodeSpec, *, since: str, log_port: int) -> None:
    status = build_node_status(spec, stamp=now(), since=since, log_port=log_port)
    kube.merge_patch(
        resource_path(api_version="v1", plural="nodes", name=spec.name, subresource="status"),
        {"status": status},
    )


def renew_lease(kube: Kube, spec: NodeSpec, *, node_uid: str) -> None:
    lease = build_lease(spec.name, node_uid=node_uid, renew_time=now_micro())
    base = resource_path(
        api_version="coordination.k8s.io/v1", plural="leases", namespace=LEASE_NAMESPACE
    )
    try:
        kube.merge_patch(f"{base}/{spec.name}", {"spec": lease["spec"]})
    except ApiError as exc:
        if exc.status != 404:
            raise
        kube.create(base, lease)


def allocatable(specs: list[NodeSpec]) -> dict[str, dict[str, str]]:
    return {spec.name: node_capacity(spec) for spec in specs}


def heartbeat(
    kube: Kube, specs: list[NodeSpec], uids: dict[str, str], *, since: str, log_port: int
) -> None:
    """One round: renew each Lease and re-post each status (re-registering a deleted Node)."""
    for spec in specs:
        try:
            renew_lease(kube, spec, node_uid=uids[spec.name])
            post_status(kube, spec, since=since, log_port=log_port)
        except ApiError as exc:
            if exc.status == 404:
                uids[spec.name] = register_node(kube, spec, since=since, log_port=log_port)
            else:
                log.warning("heartbeat of node %s: %s", spec.name, exc)
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            # the API server is down (restarting): the next round tries again, as a kubelet
            # does; the heartbeat thread must outlive the outage or the node stays NotReady
            log.warning("heartbeat of node %s: API server unreachable: %s", spec.name, exc)
