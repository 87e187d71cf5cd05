"""A hosts file per namespace, bind-mounted at /etc/hosts in every pod of that namespace.

There is no cluster DNS on the devcluster; this file stands in for it. It gives each running
pod's hostname (and, for a pod with ``spec.subdomain``, the names a headless Service would give
it: ``<hostname>.<subdomain>.<namespace>.svc[.cluster.local]``) its pod address, so that e.g. the
rendezvous address of an Indexed Job resolves; and every Service of the cluster its names
(``<service>.<namespace>[.svc[.cluster.local]]``, and ``<service>`` in its own namespace): the
ClusterIP, or for a headless Service the addresses of its ready endpoints. The file is rewritten
in place when its content changes (glibc reads /etc/hosts on every lookup).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final, NamedTuple

from mlops_devcluster.agent.services import CLUSTER_DOMAIN, service_host_names

Object = dict[str, Any]
HEADER: Final = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
Entry = tuple[str, list[str]]


class ServiceAddresses(NamedTuple):
    """A Service's name and the addresses it resolves to."""

    namespace: str
    name: str
    addresses: list[str]


def pod_host_names(pod: Object) -> list[str]:
    """The names that resolve to this pod (pure)."""
    meta, spec = pod["metadata"], pod["spec"]
    hostname = spec.get("hostname") or meta["name"][:63]
    subdomain = spec.get("subdomain")
    if not subdomain:
        return [hostname]
    namespace = meta["namespace"]
    return [
        f"{hostname}.{subdomain}.{namespace}.svc.{CLUSTER_DOMAIN}",
        f"{hostname}.{subdomain}.{namespace}.svc",
        f"{hostname}.{subdomain}",
        hostname,
    ]


def service_entries(services: list[ServiceAddresses], namespace: str) -> list[Entry]:
    """The lines that every Service adds to the hosts file of ``namespace`` (pure)."""
    return [
        (address, service_host_names(s.namespace, s.name, local=s.namespace == namespace))
        for s in services
        for address in s.addresses
    ]


def render_hosts(entries: list[Entry]) -> str:
    lines = [f"{address}\t{' '.join(names)}\n" for address, names in sorted(entries)]
    return HEADER + "".join(lines)


class HostsFiles:
    """Thread-safe registry of pod names per namespace, written to ``folder/<namespace>``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._entries: dict[str, dict[str, Entry]] = {}
        self._services: list[ServiceAddresses] = []
        self._written: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def path(self, namespace: str) -> Path:
        return self.folder / namespace

    def add(self, pod: Object, address: str) -> Path:
        namespace, uid = pod["metadata"]["namespace"], pod["metadata"]["uid"]
        with self._lock:
            self._entries.setdefault(namespace, {})[uid] = (address, pod_host_names(pod))
            self._write(namespace)
        return self.path(namespace)

    def remove(self, pod: Object) -> None:
        namespace, uid = pod["metadata"]["namespace"], pod["metadata"]["uid"]
        with self._lock:
            if self._entries.get(namespace, {}).pop(uid, None) is not None:
                self._write(namespace)

    def set_services(self, services: list[ServiceAddresses]) -> None:
        """Every Service of the cluster (replaces the previous list) → every namespace's file."""
        with self._lock:
            self._services = sorted(services)
            for namespace in self._entries:
                self._write(namespace)

    def render(self, namespace: str) -> str:
        with self._lock:
            return self._render(namespace)

    def _render(self, namespace: str) -> str:
        services = service_entries(self._services, namespace)
        taken = {name for _, names in services for name in names}
        pods = []
        for address, names in self._entries.get(namespace, {}).values():
            kept = [name for name in names if name not in taken]  # a Service's name wins
            if kept:
                pods.append((address, kept))
        return render_hosts(pods + services)

    def _write(self, namespace: str) -> None:
        data = self._render(namespace).encode()
        path = self.path(namespace)
        if self._written.get(namespace) == data and path.exists():
            return
        self._written[namespace] = data
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        with path.open("r+b") as handle:  # same inode: the bind mounts see the new content
            handle.write(data)
            handle.truncate()
