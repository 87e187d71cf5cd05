"""Ready pod addresses of per-version Services, from a watch on their EndpointSlices."""

from __future__ import annotations

import threading
from typing import Any

from mlops_serving.kube_watch import ListWatch

SERVICE_LABEL = "kubernetes.io/service-name"


def ready_addresses(endpoint_slice: dict[str, Any], *, default_port: int) -> list[str]:
    """``host:port`` of every ready endpoint of an EndpointSlice (as a plain dict).

    An endpoint whose ``ready`` condition is unset counts as ready (the API's convention);
    a terminating or not-ready one gets no traffic. The port is the one named ``http``, else
    the first one listed, else ``default_port``.
    """
    port = _port_of(endpoint_slice, default_port=default_port)
    out: list[str] = []
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        for address in endpoint.get("addresses") or []:
            host = f"[{address}]" if ":" in address else address
            out.append(f"{host}:{port}")
    return sorted(out)


def ready_named_addresses(endpoint_slice: dict[str, Any], *, default_port: int) -> dict[str, str]:
    """Pod name → ``host:port`` of every ready endpoint (a pool's servers are placed by name)."""
    named: dict[str, str] = {}
    port = _port_of(endpoint_slice, default_port=default_port)
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        name = (endpoint.get("targetRef") or {}).get("name") or endpoint.get("hostname")
        addresses = endpoint.get("addresses") or []
        if name and addresses:
            host = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
            named[name] = f"{host}:{port}"
    return named


def _port_of(endpoint_slice: dict[str, Any], *, default_port: int) -> int:
    ports = endpoint_slice.get("ports") or []
    named = [p for p in ports if p.get("name") == "http" and p.get("port")]
    if named:
        return int(named[0]["port"])
    if ports and ports[0].get("port"):
        return int(ports[0]["port"])
    return default_port


class EndpointSliceWatch(ListWatch):
    """Ready addresses of every Service of one namespace, from its EndpointSlices."""

    name = "endpointslice-watch"

    def __init__(self, namespace: str, *, default_port: int) -> None:
        super().__init__(namespace)
        self.default_port = default_port
        # slice name → (service, addresses, pod name → address)
        self._slices: dict[str, tuple[str, list[str], dict[str, str]]] = {}
        self._lock = threading.Lock()

    def addresses(self, service: str) -> list[str]:
        with self._lock:
            found = [a for svc, addrs, _ in self._slices.values() if svc == service for a in addrs]
        return sorted(set(found))

    def named_addresses(self, service: str) -> dict[str, str]:
        """Pod name → address of the ready pods of ``service``."""
        with self._lock:
            return {
                name: address
                for svc, _, named in self._slices.values()
                if svc == service
                for name, address in named.items()
            }

    def _entry(
        self, obj: dict[str, Any]
    ) -> tuple[str, tuple[str, list[str], dict[str, str]]] | None:
        """(slice name, (service, ready addresses, pod name → address)), or None for a slice of
        no Service."""
        meta = obj.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_LABEL)
        if service is None:
            return None
        port = self.default_port
        found = (
            service,
            ready_addresses(obj, default_port=port),
            ready_named_addresses(obj, default_port=port),
        )
        return meta.get("name", ""), found

    def list_call(self, client: Any) -> Any:
        return client.DiscoveryV1Api().list_namespaced_endpoint_slice

    def listed(self, items: list[dict[str, Any]]) -> None:
        entries = [entry for obj in items if (entry := self._entry(obj)) is not None]
        with self._lock:
            self._slices = dict(entries)
        self.synced.set()

    def changed(self, event: str, obj: dict[str, Any]) -> None:
        entry = self._entry(obj)
        with self._lock:
            if event == "DELETED" or entry is None:
                self._slices.pop((obj.get("metadata") or {}).get("name", ""), None)
            else:
                name, found = entry
                self._slices[name] = found
