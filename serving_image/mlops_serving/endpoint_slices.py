"""Ready pod addresses of per-version Services, from a watch on their EndpointSlices."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

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


class EndpointSliceWatch:
    """Watches EndpointSlices of one namespace in a background thread."""

    def __init__(self, namespace: str, *, default_port: int) -> None:
        self.namespace = namespace
        self.default_port = default_port
        # slice name → (service, addresses, pod name → address)
        self._slices: dict[str, tuple[str, list[str], dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()

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

    def _entry(self, obj: dict[str, Any], service: str) -> tuple[str, list[str], dict[str, str]]:
        port = self.default_port
        return (
            service,
            ready_addresses(obj, default_port=port),
            ready_named_addresses(obj, default_port=port),
        )

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        service = (meta.get("labels") or {}).get(SERVICE_LABEL)
        with self._lock:
            if kind == "DELETED" or service is None:
                self._slices.pop(name, None)
            else:
                self._slices[name] = self._entry(obj, service)

    def _replace(self, items: Iterable[dict[str, Any]]) -> None:
        fresh: dict[str, tuple[str, list[str], dict[str, str]]] = {}
        for obj in items:
            meta = obj.get("metadata") or {}
            service = (meta.get("labels") or {}).get(SERVICE_LABEL)
            if service is not None:
                fresh[meta.get("name", "")] = self._entry(obj, service)
        with self._lock:
            self._slices = fresh

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="endpointslice-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import kubernetes

        k8s: Any = kubernetes  # the client's own annotations are partial
        client, config, watch = k8s.client, k8s.config, k8s.watch
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        api = client.DiscoveryV1Api()
        sanitize = client.ApiClient().sanitize_for_serialization
        backoff = 0.5
        while not self._stop.is_set():
            try:
                listing = api.list_namespaced_endpoint_slice(self.namespace)
                self._replace(sanitize(item) for item in listing.items)
                self.synced.set()
                stream = watch.Watch().stream(
                    api.list_namespaced_endpoint_slice,
                    self.namespace,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=60,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._apply(event["type"], sanitize(event["object"]))
                backoff = 0.5
            except Exception as exc:  # the watch must survive API hiccups
                log.warning("EndpointSlice watch in %s: %s; retrying", self.namespace, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
