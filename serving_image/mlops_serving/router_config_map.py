"""The router's weights, followed in its ConfigMap through the API and written to its config
file, where ``ConfigSource`` picks them up within its poll period.

A kubelet refreshes a mounted ConfigMap only every minute or so; a canary step needs its new
weights in a second. The router pod's ServiceAccount may read ConfigMaps of its namespace.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from mlops_core.routing import ROUTER_CONFIG_KEY
from mlops_serving.kube_watch import ListWatch

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


class ConfigMapMirror(ListWatch):
    """Follows one ConfigMap (by name); its ``router.json`` goes to ``path``."""

    name = "router-configmap"

    def __init__(self, namespace: str, name: str, path: str | Path) -> None:
        super().__init__(namespace, field_selector=f"metadata.name={name}")
        self.config_map = name
        self.path = Path(path)

    def _take(self, obj: dict[str, Any]) -> None:
        where = f"{self.namespace}/{self.config_map}"
        text = (obj.get("data") or {}).get(ROUTER_CONFIG_KEY)
        if text is None:
            log.warning("ConfigMap %s has no %s", where, ROUTER_CONFIG_KEY)
            return
        if write_atomically(self.path, text):
            log.info("router config taken from ConfigMap %s", where)
        self.synced.set()

    def list_call(self, client: Any) -> Any:
        return client.CoreV1Api().list_namespaced_config_map

    def listed(self, items: list[dict[str, Any]]) -> None:
        for obj in items:
            self._take(obj)

    def changed(self, event: str, obj: dict[str, Any]) -> None:
        if event in ("ADDED", "MODIFIED"):
            self._take(obj)
