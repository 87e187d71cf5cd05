"""A pooled Deployment's request to its pool (``placement.member``), merged into what the pool
places and routes; the members a new pool config wakes; and a pool router's counters read for
one Deployment."""

from __future__ import annotations

import pytest

from mlops_core.routing import PoolRouterConfig, RouteBackend, RouterConfig
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.builders.model_server import ServedVersion
from mlops_operator.placement.decide import ServerSlot, VersionDemand, place
from mlops_operator.placement.member import (
    MemberVersion,
    PoolMember,
    member_text,
    parse_member,
    pool_demand,
)
from mlops_operator.placement.router_config import members_to_wake, pool_router_config
from mlops_operator.reconcile.pooled_deployment import PoolView, too_large
from mlops_operator.rollout.measure import parse_router_metrics

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32


def member(deployment: str, model: str, *versions: str, routed: bool = True) -> PoolMember:
    routing = RouterConfig(
        model=model,
        backends=[RouteBackend(version=versions[0], weight=100, service="shared-server")],
    )
    return PoolMember(
        deployment=deployment,
        model=model,
        versions=[MemberVersion(version=v, digest=DIGEST, size_bytes=1000) for v in versions],
        routing=routing if routed else None,
    )


def test_members_merge_into_demands_routes_and_digests() -> None:
    members = [
        member("fraud-b", "fraud", "1.0.0"),
        member("fraud-a", "fraud", "1.0.0", "1.1.0"),
        member("spam", "spam", "2.0.0", routed=False),
    ]
    demand = pool_demand(members, overhead_bytes=24, copies=2)
    # a version two Deployments serve is placed once, at its size plus the overhead
    assert demand.demands == [
        VersionDemand(key=("fraud", "1.0.0"), size_bytes=1024, copies=2),
        VersionDemand(key=("fraud", "1.1.0"), size_bytes=1024, copies=2),
        VersionDemand(key=("spam", "2.0.0"), size_bytes=1024, copies=2),
    ]
    # a member with no split yet gets its versions placed but no route
    assert [r.deployment for r in demand.routes] == ["fraud-a", "fraud-b"]
    assert demand.digests[("spam", "2.0.0")] == DIGEST
    assert demand.deployment_of[("fraud", "1.0.0")] == "fraud-a"


def test_a_member_round_trips_and_an_unreadable_one_is_left_out() -> None:
    written = member("fraud", "fraud", "1.0.0")
    assert parse_member(member_text(written)) == written
    assert parse_member("{not json") is None
    assert parse_member('{"deployment": "x"}') is None


POOL_METRICS = """\
# TYPE mlops_pool_router_requests_total counter
mlops_pool_router_requests_total{deployment="alpha",version="1.0.0",code="200"} 7.0
mlops_pool_router_requests_total{deployment="alpha",version="1.0.0",code="503"} 1.0
mlops_pool_router_requests_total{deployment="beta",version="1.0.0",code="200"} 50.0
mlops_pool_router_request_duration_seconds_bucket{deployment="alpha",version="1.0.0",le="0.1"} 6.0
mlops_pool_router_request_duration_seconds_bucket{deployment="alpha",version="1.0.0",le="+Inf"} 8.0
mlops_pool_router_request_duration_seconds_bucket{deployment="beta",version="1.0.0",le="0.1"} 50.0
mlops_pool_router_request_duration_seconds_bucket{deployment="beta",version="1.0.0",le="+Inf"} 50.0
mlops_router_requests_total{version="1.0.0",code="200"} 57.0
"""


def test_a_pool_routers_counters_are_read_for_one_deployment() -> None:
    alpha = parse_router_metrics(POOL_METRICS, deployment="alpha").of("1.0.0")
    assert (alpha.requests, alpha.errors, alpha.buckets) == (8, 1, [6, 8])
    beta = parse_router_metrics(POOL_METRICS, deployment="beta").of("1.0.0")
    assert (beta.requests, beta.errors) == (50, 0)
    # without a Deployment, the router's own series (a Deployment's own router)
    assert parse_router_metrics(POOL_METRICS).of("1.0.0").requests == 57


def test_a_version_larger_than_a_pool_servers_budget_is_refused_with_what_to_change() -> None:
    pool = ServingPool.model_validate(
        {
            "metadata": {"name": "tiny", "namespace": "team"},
            "spec": {"modelMemory": "1Mi", "modelOverhead": "256Ki"},
        }
    )
    view = PoolView(pool=pool, config=None)
    ready = {
        "1.0.0": ServedVersion("1.0.0", "s3://b/m/fraud/1.0.0/", DIGEST, size_bytes=700 * 1024),
        "2.0.0": ServedVersion("2.0.0", "s3://b/m/fraud/2.0.0/", DIGEST, size_bytes=900 * 1024),
        "3.0.0": ServedVersion("3.0.0", "s3://b/m/fraud/3.0.0/", DIGEST),  # size not known yet
    }
    assert too_large(view, "fraud", ready, ["1.0.0", "3.0.0"]) is None  # 956 KiB fits 1 MiB
    message = too_large(view, "fraud", ready, ["1.0.0", "2.0.0"])
    assert message is not None
    assert message.startswith("fraud 2.0.0 needs 1.1 MiB")
    assert "at most 1.0 MiB (modelMemory)" in message
    assert "ServingPool tiny" in message


def test_only_the_members_whose_route_or_placement_changed_are_woken() -> None:
    slots = [ServerSlot(name=f"s{i}", ready=True, budget_bytes=10**6) for i in range(3)]

    def config_of(members: list[PoolMember], previous: PoolRouterConfig | None) -> PoolRouterConfig:
        demand = pool_demand(members, overhead_bytes=0, copies=2)
        placed = place(
            slots,
            demand.demands,
            previous={}
            if previous is None
            else {(p.model, p.version): p.servers for p in previous.placements},
        )
        return pool_router_config(
            pool="shared", placement=placed, routes=demand.routes, digests=demand.digests
        )

    old = [member(f"d{i}", f"m{i}", "1.0.0") for i in range(10)]
    before = config_of(old, None)
    # the first config: everyone looks
    assert members_to_wake(old, None, before) == [m.deployment for m in old]
    # nothing changed: no one
    assert members_to_wake(old, before, config_of(old, before)) == []
    # a Deployment joins (not routed yet, then routed): it alone is woken each time
    joining = [*old, member("new", "fresh", "1.0.0", routed=False)]
    placed = config_of(joining, before)
    assert members_to_wake(joining, before, placed) == ["new"]
    routed = [*old, member("new", "fresh", "1.0.0")]
    assert members_to_wake(routed, placed, config_of(routed, placed)) == ["new"]
    # a canary's split changes on one: that one
    split = [*old[1:], member("d0", "m0", "1.0.0", "1.1.0")]
    split[-1].routing = RouterConfig(
        model="m0",
        backends=[
            RouteBackend(version="1.0.0", weight=50, service="shared-server"),
            RouteBackend(version="1.1.0", weight=50, service="shared-server"),
        ],
    )
    assert members_to_wake(split, before, config_of(split, before)) == ["d0"]
    # a server lost: those with a copy on it
    lost = [ServerSlot(name="s0", ready=False, budget_bytes=10**6), *slots[1:]]
    demand = pool_demand(old, overhead_bytes=0, copies=2)
    moved = pool_router_config(
        pool="shared",
        placement=place(
            lost,
            demand.demands,
            previous={(p.model, p.version): p.servers for p in before.placements},
        ),
        routes=demand.routes,
        digests=demand.digests,
    )
    on_s0 = [m.deployment for m in old if "s0" in before.servers_of(m.model, "1.0.0")]
    assert on_s0
    assert members_to_wake(old, before, moved) == on_s0
    # two Deployments of one model share its placement: both see a move
    twins = [member("a", "m", "1.0.0"), member("b", "m", "1.0.0")]
    assert members_to_wake(twins, None, config_of(twins, None)) == ["a", "b"]
