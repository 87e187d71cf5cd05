"""EndpointSlice parsing, the backend pool's choice of endpoints, and the ConfigMap mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.routing import RouterConfig
from mlops_serving.endpoint_slices import EndpointSliceWatch, ready_addresses
from mlops_serving.router_backends import BackendPool
from mlops_serving.router_config_map import ConfigMapMirror

pytestmark = pytest.mark.unit


def _slice(
    endpoints: list[dict[str, object]], ports: list[dict[str, object]] | None = None
) -> dict[str, object]:
    return {
        "metadata": {"name": "s1", "labels": {"kubernetes.io/service-name": "svc"}},
        "ports": ports if ports is not None else [{"name": "http", "port": 8080}],
        "endpoints": endpoints,
    }


def test_only_ready_endpoints_count() -> None:
    obj = _slice(
        [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.3"], "conditions": {}},  # unset means ready
            {"addresses": ["10.0.0.4"], "conditions": {"ready": True, "terminating": True}},
        ]
    )
    assert ready_addresses(obj, default_port=1) == ["10.0.0.1:8080", "10.0.0.3:8080"]


def test_port_choice_and_ipv6() -> None:
    endpoints = [{"addresses": ["fd00::1"], "conditions": {"ready": True}}]
    assert ready_addresses(
        _slice(endpoints, [{"name": "metrics", "port": 9090}]), default_port=1
    ) == ["[fd00::1]:9090"]
    assert ready_addresses(_slice(endpoints, []), default_port=7000) == ["[fd00::1]:7000"]
    assert ready_addresses({"endpoints": None}, default_port=1) == []


def test_watch_state_follows_events() -> None:
    watch = EndpointSliceWatch("ns", default_port=8080)
    watch.changed("ADDED", _slice([{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]))
    assert watch.addresses("svc") == ["10.0.0.1:8080"]
    watch.changed("MODIFIED", _slice([{"addresses": ["10.0.0.1"], "conditions": {"ready": False}}]))
    assert watch.addresses("svc") == []
    watch.changed("ADDED", _slice([{"addresses": ["10.0.0.5"], "conditions": {"ready": True}}]))
    watch.changed("DELETED", _slice([]))
    assert watch.addresses("svc") == []


def test_pool_rotates_and_sets_dead_endpoints_aside() -> None:
    config = RouterConfig.model_validate(
        {
            "model": "m",
            "backends": [{"version": "1", "weight": 100, "endpoints": ["a:1", "b:1", "c:1"]}],
        }
    )
    pool = BackendPool()
    firsts = {pool.order(pool.endpoints(config, "1"))[0] for _ in range(6)}
    assert firsts == {"a:1", "b:1", "c:1"}
    pool.mark_dead("b:1")
    assert pool.endpoints(config, "1") == ["a:1", "c:1"]
    pool.mark_dead("a:1")
    pool.mark_dead("c:1")
    assert pool.endpoints(config, "1") == ["a:1", "b:1", "c:1"]  # all dead: try them anyway
    pool.mark_alive("a:1")
    assert pool.endpoints(config, "1") == ["a:1"]


def test_service_backends_without_a_watch_have_no_endpoints() -> None:
    config = RouterConfig.model_validate(
        {"model": "m", "backends": [{"version": "1", "weight": 100, "service": "m-v1"}]}
    )
    assert BackendPool().endpoints(config, "1") == []


def test_the_config_map_mirror_writes_router_json_and_ignores_a_deletion(tmp_path: Path) -> None:
    path = tmp_path / "router" / "router.json"
    mirror = ConfigMapMirror("ns", "fraud-router", path)
    assert mirror.field_selector == "metadata.name=fraud-router"
    mirror.listed([{"metadata": {"name": "fraud-router"}, "data": {"other": "x"}}])
    assert not path.exists()
    assert not mirror.synced.is_set()  # no router.json yet: not synced
    mirror.listed([{"metadata": {"name": "fraud-router"}, "data": {"router.json": "{}"}}])
    assert path.read_text() == "{}"
    assert mirror.synced.is_set()
    mirror.changed("MODIFIED", {"data": {"router.json": '{"model": "fraud"}'}})
    mirror.changed("DELETED", {"data": {}})
    assert path.read_text() == '{"model": "fraud"}'
