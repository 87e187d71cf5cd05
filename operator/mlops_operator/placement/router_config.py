"""A placement, and the pool's Deployments' splits, as the routers' ``PoolRouterConfig``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlops_core.routing import PlacedVersion, PoolRoute, PoolRouterConfig
from mlops_operator.placement.decide import Placement
from mlops_operator.placement.member import PoolMember


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


def members_to_wake(
    members: Sequence[PoolMember], before: PoolRouterConfig | None, after: PoolRouterConfig
) -> list[str]:
    """The pooled Deployments whose part of the routers' config changed from ``before`` to
    ``after``: their route, or the servers of a version they ask to place or route. A
    Deployment reads nothing else of the pool's config, so the others have nothing to look
    at again (when 200 Deployments join a pool, each new one's placement wakes it, not all)."""
    return [
        m.deployment for m in members if before is None or _part_of(m, before) != _part_of(m, after)
    ]


def _part_of(member: PoolMember, config: PoolRouterConfig) -> tuple[object, ...]:
    route = config.route(member.deployment)
    versions = {v.version for v in member.versions}
    if route is not None:
        versions |= {b.version for b in route.routing.backends}
    return (
        route.to_wire() if route is not None else None,
        [(v, config.servers_of(member.model, v)) for v in sorted(versions)],
    )
