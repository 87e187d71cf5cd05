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
    digests: Mapping[tuple[str, str], str] | None = None,
) -> PoolRouterConfig:
    """What the pool's routers and servers read: each route, each placed version's servers
    and the digest its manifest must have."""
    return PoolRouterConfig(
        pool=pool,
        server_endpoints=dict(server_endpoints or {}),
        routes=sorted(routes, key=lambda r: r.deployment),
        placements=[
            PlacedVersion(
                model=model,
                version=version,
                servers=list(servers),
                digest=(digests or {}).get((model, version)),
            )
            for (model, version), servers in sorted(placement.servers_of.items())
        ],
    )
