"""The router's config file (a mounted ConfigMap key), re-read whenever its content changes.

Kubernetes updates a mounted ConfigMap by swapping a symlink, so the watcher compares content
hashes rather than modification times. An invalid new config is logged and the last good one
stays in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from mlops_core.routing import RouterConfig, RoutingError, parse_router_config

log = logging.getLogger(__name__)


Config = TypeVar("Config")


class ConfigSource(Generic[Config]):
    """Holds the current config (a ``RouterConfig``, or what ``parse`` makes) and the last
    load error."""

    def __init__(self, path: str | Path, parse: Callable[[str], Config]) -> None:
        self.path = Path(path)
        self.parse = parse
        self.config: Config | None = None
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
            config = self.parse(data.decode())
        except (RoutingError, UnicodeDecodeError) as exc:
            self.error = f"{self.path}: {exc}"
            log.error("router config rejected, keeping the previous one: %s", self.error)
            return False
        self.config = config
        self.error = None
        self.generation += 1
        log.info("router config %d: %s", self.generation, describe(config))
        return True

    async def watch(self, period: float) -> None:
        while True:
            await asyncio.to_thread(self.reload)
            await asyncio.sleep(period)


def describe(config: object) -> str:
    """A one-line summary of a config for the log."""
    if isinstance(config, RouterConfig):
        return ", ".join(f"{b.version}={b.weight}" for b in config.backends)
    return type(config).__name__


def router_config_source(path: str | Path) -> ConfigSource[RouterConfig]:
    """The source of a Deployment's router: a ``RouterConfig``."""
    return ConfigSource(path, parse_router_config)
