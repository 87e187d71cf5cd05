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
    ports = endpoint_slice.get("ports") or []
    port = default_port
    named = [p for p in ports if p.get("name") == "http" and p.get("port")]
    if named:
        port = int(named[0]["port"])
    elif ports and ports[0].get("port"):
        port = int(ports[0]["port"])
    out: list[str] = []
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        for address in endpoint.get("addresses") or []:
            host = f"[{address}]" if ":" in address else address
            out.append(f"{host}:{port}")
    return sorted(out)


class EndpointSliceWatch(ListWatch):
    """Ready addresses of every Service of one namespace, from its EndpointSlices."""

    name = "endpointslice-watch"

    def __init__(self, namespace: str, *, default_port: int) -> None:
        super().__init__(namespace)
        self.default_port = default_port
        self._slices: dict[str, tuple[str, list[str]]] = {}  # slice name → (service, addresses)
        self._lock = threading.Lock()

    def addresses(self, service: str) -> list[str]:
        with self._lock:
            found = [a for svc, addrs in self._slices.values() if svc == service for a in addrs]
        return sorted(set(found))

    def _entry(self, obj: dict[str, Any]) -> tuple[str, str, list[str]] | None:
        """(slice name, service, ready addresses), or None for a slice of no Service."""
        meta = obj.get("metadata") or {}
        service = (meta.get("labels") or {}).get(SERVICE_LABEL)
        if service is None:
            return None
        return meta.get("name", ""), service, ready_addresses(obj, default_port=self.default_port)

    def list_call(self, client: Any) -> Any:
        return client.DiscoveryV1Api().list_namespaced_endpoint_slice

    def listed(self, items: list[dict[str, Any]]) -> None:
        entries = [entry for obj in items if (entry := self._entry(obj)) is not None]
        with self._lock:
            self._slices = {name: (service, found) for name, service, found in entries}
        self.synced.set()

    def changed(self, event: str, obj: dict[str, Any]) -> None:
        entry = self._entry(obj)
        with self._lock:
            if event == "DELETED" or entry is None:
                self._slices.pop((obj.get("metadata") or {}).get("name", ""), None)
            else:
                name, service, found = entry
                self._slices[name] = (service, found)
