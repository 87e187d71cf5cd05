"""ServingPool status: a pure reducer from what was observed to the status to write.

Observed: each server pod (ready or not) with what it reports (versions and bytes in memory,
load and eviction counters), the routers that are ready, and the placement just decided. Loads
and evictions per minute come from the counters' growth since the last status (its time and
totals are kept in it), so the operator keeps no state of its own.

Conditions (kstatus): ``Ready`` when every server and at least one router is ready and every
version is placed; ``Stalled`` when the pool cannot serve as declared and a person must act
(``NoServers``: scaled to 0; ``VersionsNotPlaced``: a version fits on no server, with the
reason); ``Reconciling`` while pods start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mlops_operator.api.conditions import READY, RECONCILING, STALLED, set_conditions
from mlops_operator.api.serving_pool import (
    SERVERS_MAX,
    UNPLACED_MAX,
    PoolPhase,
    PoolServerStatus,
    ServingPool,
    ServingPoolStatus,
    UnplacedVersion,
)
from mlops_operator.placement.decide import Placement


@dataclass(frozen=True, kw_only=True)
class ObservedServer:
    """A server pod and what its metrics said (None: not scraped)."""

    name: str
    ready: bool
    loaded: int = 0
    memory_used_bytes: int = 0
    loads_total: float = 0.0
    evictions_total: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ObservedPool:
    servers: Sequence[ObservedServer]
    ready_routers: int
    placement: Placement
    #: the Deployment each refused version was asked for by, for the status
    deployment_of: dict[tuple[str, str], str]
    deployments: int
    selector: str
    now: datetime


def _per_minute(now_total: float, before_total: float, seconds: float) -> float:
    if seconds <= 0 or now_total < before_total:  # a restarted server starts again from 0
        return 0.0
    return round((now_total - before_total) * 60.0 / seconds, 3)


def pool_status(pool: ServingPool, o: ObservedPool) -> ServingPoolStatus:
    spec, before = pool.spec, pool.status
    placement = o.placement
    previous = {s.name: s for s in before.servers}
    elapsed = (o.now - before.sampled_at).total_seconds() if before.sampled_at is not None else 0.0
    servers: list[PoolServerStatus] = []
    for server in sorted(o.servers, key=lambda s: s.name)[:SERVERS_MAX]:
        placed = placement.versions_on(server.name)
        last = previous.get(server.name)
        servers.append(
            PoolServerStatus(
                name=server.name,
                ready=server.ready,
                placed=[f"{m}:{v}" for m, v in placed][:256],
                loaded=server.loaded,
                memory_placed_bytes=placement.placed_bytes.get(server.name, 0),
                memory_used_bytes=server.memory_used_bytes,
                loads_total=server.loads_total,
                evictions_total=server.evictions_total,
                loads_per_minute=_per_minute(
                    server.loads_total, last.loads_total if last else server.loads_total, elapsed
                ),
                evictions_per_minute=_per_minute(
                    server.evictions_total,
                    last.evictions_total if last else server.evictions_total,
                    elapsed,
                ),
            )
        )
    unplaced = [
        UnplacedVersion(
            deployment=o.deployment_of.get(r.key, ""),
            version=f"{r.key[0]}:{r.key[1]}",
            reason=r.reason,
        )
        for r in placement.refused
    ][:UNPLACED_MAX]
    ready_servers = sum(1 for s in o.servers if s.ready)
    budget = spec.model_memory_bytes * spec.replicas
    used = sum(s.memory_used_bytes for s in o.servers)
    phase: PoolPhase
    if spec.replicas == 0:
        phase, state = "Stopped", ("Stalled", "NoServers")
        message = (
            "the pool has no servers (spec.replicas is 0): its Deployments cannot be "
            "served; scale it up"
        )
    elif unplaced:
        phase, state = "Degraded", ("Stalled", "VersionsNotPlaced")
        message = f"{len(placement.refused)} version(s) fit on no server: {unplaced[0].reason}"
    elif ready_servers < spec.replicas or o.ready_routers == 0:
        phase, state = (
            ("Pending" if ready_servers == 0 else "Degraded"),
            ("Reconciling", "PodsStarting"),
        )
        message = (
            f"{ready_servers}/{spec.replicas} servers and {o.ready_routers}/"
            f"{spec.router_replicas} routers ready"
        )
    else:
        phase, state = "Serving", ("Ready", "Serving")
        message = (
            f"{ready_servers} servers hold {len(placement.servers_of)} versions of "
            f"{o.deployments} Deployments"
        )
    conditions = set_conditions(
        before.conditions,
        [
            (READY, "True" if state[0] == "Ready" else "False", state[1]),
            (RECONCILING, "True" if state[0] == "Reconciling" else "False", state[1]),
            (STALLED, "True" if state[0] == "Stalled" else "False", state[1]),
        ],
        message=message,
        primary=READY,
        observed_generation=pool.metadata.generation,
        now=o.now,
    )
    return ServingPoolStatus(
        observed_generation=pool.metadata.generation,
        conditions=conditions,
        phase=phase,
        replicas=len(o.servers),
        ready_servers=ready_servers,
        ready_routers=o.ready_routers,
        label_selector=o.selector,
        deployments=o.deployments,
        placed_versions=len(placement.servers_of),
        servers=servers,
        unplaced=unplaced,
        memory_used_bytes=used,
        memory_budget_bytes=budget,
        loads_per_minute=round(sum(s.loads_per_minute for s in servers), 3),
        evictions_per_minute=round(sum(s.evictions_per_minute for s in servers), 3),
        servers_summary=f"{ready_servers}/{spec.replicas}",
        memory_summary=f"{100 * used // budget}%" if budget else None,
        sampled_at=o.now.replace(microsecond=0),
    )
