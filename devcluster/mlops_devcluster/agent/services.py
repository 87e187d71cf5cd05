"""Services and their EndpointSlices as the node agent routes them (pure).

A Service with a ClusterIP gets one TCP listener per port on that address (see
``service_proxy``); each listener forwards to the ready endpoints of the Service's
EndpointSlices, at the port the slice gives for the Service port's name. A headless Service
(``clusterIP: None``) gets no listener: its name resolves to its ready endpoints' addresses.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

Object = dict[str, Any]
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
CLUSTER_DOMAIN: Final = "cluster.local"


class Backend(NamedTuple):
    address: str
    port: int


class Listen(NamedTuple):
    """Where one Service port is served: the ClusterIP and the Service's port."""

    address: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int


@dataclass(frozen=True)
class ServiceView:
    """What routing needs of a Service: ``cluster_ip`` is None for a headless one."""

    namespace: str
    name: str
    cluster_ip: str | None
    ports: tuple[ServicePort, ...]

    @classmethod
    def from_object(cls, service: Object) -> ServiceView | None:
        """None for Services that get no address (ExternalName)."""
        meta, spec = service["metadata"], service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return None
        cluster_ip = spec.get("clusterIP") or None
        if cluster_ip == "None":
            cluster_ip = None
        ports = tuple(
            ServicePort(name=p.get("name") or "", port=int(p["port"]))
            for p in spec.get("ports") or []
            if (p.get("protocol") or "TCP") == "TCP"
        )
        return cls(meta["namespace"], meta["name"], cluster_ip, ports)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def endpoint_ready(endpoint: Object) -> bool:
    """An endpoint whose ``ready`` condition is unset counts as ready (the API's rule)."""
    return (endpoint.get("conditions") or {}).get("ready") is not False


def ready_backends(slices: Iterable[Object], port_name: str) -> list[Backend]:
    """The ready endpoints of a Service port across its slices, in a stable order."""
    found: set[Backend] = set()
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType", "IPv4") != "IPv4":
            continue
        ports = [
            int(p["port"])
            for p in endpoint_slice.get("ports") or []
            if (p.get("name") or "") == port_name and p.get("port") is not None
        ]
        if not ports:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if endpoint_ready(endpoint):
                found.update(Backend(address, ports[0]) for address in endpoint["addresses"])
    return sorted(found)


def ready_addresses(slices: Iterable[Object]) -> list[str]:
    """The addresses of the ready endpoints (what a headless Service's name resolves to)."""
    found = {
        address
        for endpoint_slice in slices
        if endpoint_slice.get("addressType", "IPv4") == "IPv4"
        for endpoint in endpoint_slice.get("endpoints") or []
        if endpoint_ready(endpoint)
        for address in endpoint["addresses"]
    }
    return sorted(found)


def service_host_names(namespace: str, name: str, *, local: bool) -> list[str]:
    """The names of a Service in the hosts file of a namespace; the bare name only where the
    Service is ``local`` (in the namespace's own file), as a pod's DNS search path would have
    it."""
    names = [
        f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}",
    ]
    return [*names, name] if local else names


class RoundRobin:
    """Which backend a new connection tries first: each connection starts one further along
    the list; the rest follow in order, as fallbacks when one refuses."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def order(self, backends: list[Backend]) -> list[Backend]:
        if not backends:
            return []
        with self._lock:
            start = next(self._counter) % len(backends)
        return backends[start:] + backends[:start]
