"""A placement, and the pool's Deployments' splits, as the routers' ``PoolRouterConfig``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlops_core.routing import PlacedVersion, PoolRoute, PoolRouterConfig
from mlops_operator.placement.decide import Placement


def pool_router_config(
    *,
    pool: str,
    placement: Placement,
    routes: Sequence[PoolRoute],
    server_endpoints: Mapping[str, str] | None = None,
) -> PoolRouterConfig:
    """What the pool's routers read: each route, and each placed version's servers."""
    return PoolRouterConfig(
        pool=pool,
        server_endpoints=dict(server_endpoints or {}),
        routes=sorted(routes, key=lambda r: r.deployment),
        placements=[
            PlacedVersion(model=model, version=version, servers=list(servers))
            for (model, version), servers in sorted(placement.servers_of.items())
        ],
    )
