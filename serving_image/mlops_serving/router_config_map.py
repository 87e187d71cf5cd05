"""The router's weights, followed in its ConfigMap through the API and written to its config
file, where ``ConfigSource`` picks them up within its poll period.

A kubelet refreshes a mounted ConfigMap only every minute or so; a canary step needs its new
weights in a second. The router pod's ServiceAccount may read ConfigMaps of its namespace.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mlops_core.routing import ROUTER_CONFIG_KEY

log = logging.getLogger(__name__)


def write_atomically(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` (never half-written); False when it held it already."""
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".router-", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return True


class ConfigMapMirror:
    """Watches one ConfigMap in a daemon thread; its ``router.json`` goes to ``path``."""

    def __init__(self, namespace: str, name: str, path: str | Path) -> None:
        self.namespace = namespace
        self.name = name
        self.path = Path(path)
        self._stop = threading.Event()
        self.synced = threading.Event()

    def _take(self, obj: dict[str, Any]) -> None:
        text = (obj.get("data") or {}).get(ROUTER_CONFIG_KEY)
        if text is None:
            log.warning("ConfigMap %s/%s has no %s", self.namespace, self.name, ROUTER_CONFIG_KEY)
            return
        if write_atomically(self.path, text):
            log.info("router config taken from ConfigMap %s/%s", self.namespace, self.name)
        self.synced.set()

    def start(self) -> None:
        threading.Thread(target=self._run, name="router-configmap", daemon=True).start()

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
        api = client.CoreV1Api()
        sanitize = client.ApiClient().sanitize_for_serialization
        selector = f"metadata.name={self.name}"
        backoff = 0.5
        while not self._stop.is_set():
            try:
                listing = api.list_namespaced_config_map(self.namespace, field_selector=selector)
                for item in listing.items:
                    self._take(sanitize(item))
                stream = watch.Watch().stream(
                    api.list_namespaced_config_map,
                    self.namespace,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=60,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._take(sanitize(event["object"]))
                backoff = 0.5
            except Exception as exc:  # the watch must survive API hiccups
                log.warning("ConfigMap watch %s/%s: %s; retrying", self.namespace, self.name, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
