"""The router's config file (a mounted ConfigMap key), re-read whenever its content changes.

Kubernetes updates a mounted ConfigMap by swapping a symlink, so the watcher compares content
hashes rather than modification times. An invalid new config is logged and the last good one
stays in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from mlops_core.routing import RouterConfig, RoutingError, parse_router_config

log = logging.getLogger(__name__)


class ConfigSource:
    """Holds the current ``RouterConfig`` and the last load error."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config: RouterConfig | None = None
        self.error: str | None = None
        self.generation = 0
        self._digest: str | None = None

    def reload(self) -> bool:
        """Re-read the file; True when a new valid config took effect."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self.error = f"cannot read router config {self.path}: {exc}"
            return False
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return False
        self._digest = digest
        try:
            config = parse_router_config(data.decode())
        except (RoutingError, UnicodeDecodeError) as exc:
            self.error = f"{self.path}: {exc}"
            log.error("router config rejected, keeping the previous one: %s", self.error)
            return False
        self.config = config
        self.error = None
        self.generation += 1
        log.info(
            "router config %d: %s",
            self.generation,
            ", ".join(f"{b.version}={b.weight}" for b in config.backends),
        )
        return True

    async def watch(self, period: float) -> None:
        while True:
            await asyncio.to_thread(self.reload)
            await asyncio.sleep(period)
