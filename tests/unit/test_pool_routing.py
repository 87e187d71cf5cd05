"""The pool's router config: declared once in ``mlops_core.routing``, written from a placement."""

from __future__ import annotations

import json

import pytest

from mlops_core.routing import (
    PoolRoute,
    RouterConfig,
    RoutingError,
    parse_pool_router_config,
)
from mlops_operator.placement.decide import ServerSlot, VersionDemand, place
from mlops_operator.placement.router_config import pool_router_config

pytestmark = pytest.mark.unit


def route(deployment: str, model: str, *versions: tuple[str, int]) -> PoolRoute:
    backends = [{"version": v, "weight": w, "service": "shared-server"} for v, w in versions]
    return PoolRoute(
        deployment=deployment,
        routing=RouterConfig.model_validate({"model": model, "backends": backends}),
    )


def test_a_placement_becomes_the_pool_router_config_and_parses_back() -> None:
    slots = [
        ServerSlot(name=f"shared-server-{i}", ready=True, budget_bytes=10**6) for i in range(3)
    ]
    demands = [
        VersionDemand(key=("fraud", "1.0.0"), size_bytes=1000, copies=2),
        VersionDemand(key=("fraud", "1.1.0"), size_bytes=1000, copies=2),
        VersionDemand(key=("spam", "2.0.0"), size_bytes=1000, copies=2),
    ]
    placement = place(slots, demands)
    config = pool_router_config(
        pool="shared",
        placement=placement,
        routes=[
            route("spam-detector", "spam", ("2.0.0", 100)),
            route("fraud", "fraud", ("1.0.0", 90), ("1.1.0", 10)),
        ],
    )
    text = json.dumps(config.to_wire())
    parsed = parse_pool_router_config(text)
    assert parsed == config
    assert [r.deployment for r in parsed.routes] == ["fraud", "spam-detector"]
    assert parsed.servers_of("fraud", "1.1.0") == list(placement.servers_of[("fraud", "1.1.0")])
    assert parsed.servers_of("fraud", "9.9.9") == []
    found = parsed.route("fraud")
    assert found is not None
    assert found.routing.backend("1.1.0").weight == 10
    assert parsed.route("nothing") is None
    model_route = parsed.route_for_model("spam")
    assert model_route is not None
    assert model_route.deployment == "spam-detector"


def test_a_deployment_router_config_is_not_a_pool_config() -> None:
    text = json.dumps({"model": "m", "backends": [{"version": "1.0.0", "weight": 100}]})
    with pytest.raises(RoutingError, match="pool"):
        parse_pool_router_config(text)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {
                "pool": "p",
                "routes": [
                    route("d", "m", ("1.0.0", 100)).to_wire(),
                    route("d", "n", ("1.0.0", 100)).to_wire(),
                ],
            },
            "routes list a deployment twice",
        ),
        (
            {
                "pool": "p",
                "placements": [
                    {"model": "m", "version": "1.0.0", "servers": ["a"]},
                    {"model": "m", "version": "1.0.0", "servers": ["b"]},
                ],
            },
            "placements list a version twice",
        ),
        (
            {"pool": "p", "placements": [{"model": "m", "version": "1.0.0", "servers": []}]},
            "servers",
        ),
    ],
)
def test_an_inconsistent_pool_config_is_refused_with_the_reason(
    body: dict[str, object], says: str
) -> None:
    with pytest.raises(RoutingError, match=says):
        parse_pool_router_config(json.dumps(body))
