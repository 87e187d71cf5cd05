"""A hosts file per namespace, bind-mounted at /etc/hosts in every pod of that namespace.

There is no cluster DNS on the devcluster; this file gives each running pod's hostname (and,
for a pod with ``spec.subdomain``, the names a headless Service would give it:
``<hostname>.<subdomain>.<namespace>.svc[.cluster.local]``) its pod address, so that e.g. the
rendezvous address of an Indexed Job resolves. The file is rewritten in place as pods come and go
(glibc reads /etc/hosts on every lookup).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

Object = dict[str, Any]
HEADER: Final = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
CLUSTER_DOMAIN: Final = "cluster.local"


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


def render_hosts(entries: list[tuple[str, list[str]]]) -> str:
    lines = [f"{address}\t{' '.join(names)}\n" for address, names in sorted(entries)]
    return HEADER + "".join(lines)


class HostsFiles:
    """Thread-safe registry of pod names per namespace, written to ``folder/<namespace>``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._entries: dict[str, dict[str, tuple[str, list[str]]]] = {}
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

    def _write(self, namespace: str) -> None:
        data = render_hosts(list(self._entries.get(namespace, {}).values())).encode()
        path = self.path(namespace)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        with path.open("r+b") as handle:  # same inode: the bind mounts see the new content
            handle.write(data)
            handle.truncate()
