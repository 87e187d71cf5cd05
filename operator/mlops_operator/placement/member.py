"""What one pooled Deployment asks of its pool: the versions to place (with their digest and
size) and, once it routes traffic, its split. The Deployment's reconcile writes it (it alone
reads the registry and decides the rollout); the pool's reconcile reads every member's and
decides the placement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import Field, ValidationError

from mlops_core.routing import PoolRoute, RouterConfig
from mlops_core.wire import WireModel
from mlops_operator.placement.decide import VersionDemand, VersionKey

MEMBER_KEY: Final = "member.json"
MEMBER_VERSIONS_MAX: Final = 16


class MemberVersion(WireModel):
    """One version the Deployment serves (a weight, a canary, a mirror or one draining)."""

    version: str = Field(min_length=1, max_length=128)
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0, description="Bytes of the artifact's files.")


class PoolMember(WireModel):
    """A pooled Deployment's request to its pool."""

    deployment: str = Field(min_length=1, max_length=63)
    model: str = Field(min_length=1, max_length=253)
    versions: list[MemberVersion] = Field(default_factory=list, max_length=MEMBER_VERSIONS_MAX)
    routing: RouterConfig | None = Field(
        default=None, description="The split, once a version is placed (None before)."
    )


def member_text(member: PoolMember) -> str:
    return json.dumps(member.to_wire(), sort_keys=True)


def parse_member(text: str) -> PoolMember | None:
    """A member as written, or None for one that cannot be read (it is then left out)."""
    try:
        return PoolMember.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None


@dataclass(frozen=True)
class PoolDemand:
    """The members' requests, merged: what to place, the routes, each version's digest and
    the Deployment that serves it (for the status)."""

    demands: list[VersionDemand]
    routes: list[PoolRoute]
    digests: dict[VersionKey, str]
    deployment_of: dict[VersionKey, str]


def pool_demand(members: Sequence[PoolMember], *, overhead_bytes: int, copies: int) -> PoolDemand:
    """Every member's versions to place (a version two Deployments serve is placed once: its
    size plus ``overhead_bytes`` per copy) and every member's route."""
    sizes: dict[VersionKey, int] = {}
    digests: dict[VersionKey, str] = {}
    deployment_of: dict[VersionKey, str] = {}
    routes = []
    for member in sorted(members, key=lambda m: m.deployment):
        for item in member.versions:
            key = (member.model, item.version)
            sizes[key] = max(sizes.get(key, 0), item.size_bytes + overhead_bytes)
            digests.setdefault(key, item.digest)
            deployment_of.setdefault(key, member.deployment)
        if member.routing is not None:
            routes.append(PoolRoute(deployment=member.deployment, routing=member.routing))
    demands = [VersionDemand(key=k, size_bytes=v, copies=copies) for k, v in sorted(sizes.items())]
    return PoolDemand(demands, routes, digests, deployment_of)
