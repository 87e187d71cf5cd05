"""ServingPool status from observed servers, routers and the placement: phase, kstatus
conditions with what to fix, per-server figures and churn per minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.conditions import find_condition
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.placement.decide import ServerSlot, VersionDemand, place
from mlops_operator.reconcile.serving_pool_status import ObservedPool, ObservedServer, pool_status

pytestmark = pytest.mark.unit

MIB = 2**20
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def pool(**spec: Any) -> ServingPool:
    return ServingPool.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "ServingPool",
            "metadata": {"name": "shared", "namespace": "ns", "uid": "u", "generation": 2},
            "spec": {"modelMemory": "100Mi", **spec},
        }
    )


def observe(
    p: ServingPool,
    *,
    ready: int,
    routers: int = 2,
    sizes: dict[str, int] | None = None,
    now: datetime = NOW,
    loads: float = 0.0,
) -> ObservedPool:
    names = [f"shared-server-{i}" for i in range(p.spec.replicas)]
    slots = [
        ServerSlot(name=n, ready=i < ready, budget_bytes=p.spec.model_memory_bytes)
        for i, n in enumerate(names)
    ]
    demands = [
        VersionDemand(key=(m, "1.0.0"), size_bytes=size, copies=p.spec.copies)
        for m, size in (sizes or {"a": MIB, "b": 2 * MIB}).items()
    ]
    placement = place(slots, demands)
    servers = [
        ObservedServer(name=n, ready=i < ready, loaded=1, memory_used_bytes=MIB, loads_total=loads)
        for i, n in enumerate(names)
    ]
    return ObservedPool(
        servers=servers,
        ready_routers=routers,
        placement=placement,
        deployment_of={d.key: f"dep-{d.key[0]}" for d in demands},
        deployments=len(demands),
        selector="mlops.dev/servingpool=shared",
        now=now,
    )


def condition(status: Any, kind: str) -> tuple[str, str, str]:
    found = find_condition(status.conditions, kind)
    assert found is not None
    return found.status, found.reason, found.message


def test_a_pool_with_every_pod_ready_and_every_version_placed_is_ready() -> None:
    p = pool(replicas=3)
    status = pool_status(p, observe(p, ready=3))
    assert status.phase == "Serving"
    assert condition(status, "Ready")[:2] == ("True", "Serving")
    assert condition(status, "Stalled")[0] == "False"
    assert status.servers_summary == "3/3"
    assert status.placed_versions == 2
    assert sum(len(s.placed) for s in status.servers) == 4  # 2 versions x 2 copies
    assert status.memory_budget_bytes == 300 * MIB
    assert status.memory_summary == "1%"
    assert status.observed_generation == 2


def test_a_pool_scaled_to_zero_is_stalled_and_says_to_scale_up() -> None:
    p = pool(replicas=0)
    status = pool_status(p, observe(p, ready=0))
    assert status.phase == "Stopped"
    state, reason, message = condition(status, "Stalled")
    assert (state, reason) == ("True", "NoServers")
    assert "scale it up" in message
    assert condition(status, "Ready")[0] == "False"


def test_a_version_too_large_for_any_server_stalls_the_pool_with_the_reason() -> None:
    p = pool(replicas=2)
    status = pool_status(p, observe(p, ready=2, sizes={"a": MIB, "huge": 200 * MIB}))
    state, reason, message = condition(status, "Stalled")
    assert (state, reason) == ("True", "VersionsNotPlaced")
    assert "spec.modelMemory" in message
    assert [(u.deployment, u.version) for u in status.unplaced] == [("dep-huge", "huge:1.0.0")]
    assert status.placed_versions == 1  # the others are still served


def test_starting_pods_are_reconciling() -> None:
    p = pool(replicas=3)
    assert condition(pool_status(p, observe(p, ready=1)), "Reconciling")[:2] == (
        "True",
        "PodsStarting",
    )
    assert pool_status(p, observe(p, ready=3, routers=0)).phase == "Degraded"


def test_loads_per_minute_come_from_the_counters_growth_since_the_last_status() -> None:
    p = pool(replicas=1)
    first = pool_status(p, observe(p, ready=1, loads=10))
    assert first.loads_per_minute == 0.0
    later = p.model_copy(update={"status": first})
    second = pool_status(later, observe(later, ready=1, loads=40, now=NOW + timedelta(seconds=30)))
    assert second.servers[0].loads_per_minute == 60.0
    assert second.loads_per_minute == 60.0
    restarted = pool_status(
        later, observe(later, ready=1, loads=2, now=NOW + timedelta(seconds=30))
    )
    assert restarted.loads_per_minute == 0.0
