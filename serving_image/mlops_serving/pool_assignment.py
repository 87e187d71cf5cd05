"""A pool server preloads the versions placement gave it, as the pool's config changes.

The server follows the same ``PoolRouterConfig`` file its pool's routers read (``POOL_CONFIG_FILE``)
and loads the versions whose placement names it (``POOL_SERVER_NAME``, its pod name). Preloading
never evicts: a placed version is loaded only while it fits beside what is in memory, so a config
change on an overcommitted pool causes no reload storm; what does not fit loads on the first
request for it, like any version the server is asked for and was not given. Each placed
version's digest (its ModelVersion's) is what its manifest must have, on every server.
"""

from __future__ import annotations

import asyncio
import logging

from mlops_core.routing import PoolRouterConfig, parse_pool_router_config
from mlops_serving.errors import ServingError
from mlops_serving.model_repository import Key, ModelRepository
from mlops_serving.router_config_source import ConfigSource

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def assigned_to(config: PoolRouterConfig, server: str) -> list[Key]:
    """Versions placed on ``server``, in the config's order."""
    return [(p.model, p.version) for p in config.placements if server in p.servers]


class PoolAssignment:
    """Follows the pool's config file and preloads this server's share."""

    def __init__(self, repository: ModelRepository, *, config_file: str, server: str) -> None:
        self.repository = repository
        self.server = server
        self.source: ConfigSource[PoolRouterConfig] = ConfigSource(
            config_file, parse_pool_router_config
        )
        self.assigned: list[Key] = []

    async def preload(self) -> None:
        """Load each assigned version that is not in memory and fits without evicting."""
        for name, version in self.assigned:
            repo = self.repository
            if repo.is_loaded(name, version):
                continue
            try:
                if not await repo.has_room_for(name, version):
                    continue
                await repo.get(name, version)
            except ServingError as exc:
                log.warning("preloading %s %s (placed here) failed: %s", name, version, exc)

    async def follow(self, period: float = POLL_SECONDS) -> None:
        while True:
            if await asyncio.to_thread(self.source.reload) and self.source.config is not None:
                config = self.source.config
                self.repository.expect_digests(
                    {(p.model, p.version): p.digest for p in config.placements if p.digest}
                )
                self.assigned = assigned_to(config, self.server)
                log.info("placement gives %s %d versions", self.server, len(self.assigned))
                await self.preload()
            await asyncio.sleep(period)
