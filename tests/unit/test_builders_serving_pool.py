"""A ServingPool's manifests: pure functions of the pool, read back by the server and router."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_core.routing import ROUTER_CONFIG_KEY, PoolRouterConfig, parse_pool_router_config
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.builders.serving_pool import (
    build_pool_config_map,
    build_pool_router_account,
    build_pool_router_deployment,
    build_pool_server_deployment,
    build_pool_server_service,
    build_pooled_service,
    pool_servers_selector,
)
from mlops_operator.settings import OperatorSettings
from mlops_serving.settings import RouterSettings, ServerSettings

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings()


def pool(**spec: Any) -> ServingPool:
    return ServingPool.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "ServingPool",
            "metadata": {"name": "shared", "namespace": "team-a", "uid": "u-1", "generation": 1},
            "spec": spec,
        }
    )


def container_of(manifest: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = manifest["spec"]["template"]["spec"]["containers"][0]
    return container


def plain_env(manifest: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container_of(manifest)["env"] if "value" in e}


def test_servers_get_the_budget_overhead_and_config_the_server_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = build_pool_server_deployment(
        pool(replicas=4, modelMemory="512Mi", maxModelsPerServer=32), SETTINGS
    )
    assert manifest["spec"]["replicas"] == 4
    env = plain_env(manifest)
    # the server's own settings parse exactly what the builder writes
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = ServerSettings()
    assert settings.model_memory_budget_bytes == 512 * 2**20
    assert settings.model_overhead_bytes == 256 * 2**10
    assert settings.serving.max_models_in_memory == 32
    assert settings.model_repository_uri == f"{SETTINGS.artifact_root}/team-a"
    assert settings.pool_config_file == f"/etc/mlops/pool/{ROUTER_CONFIG_KEY}"
    named = {e["name"]: e for e in container_of(manifest)["env"]}
    assert named["POOL_SERVER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    pod = manifest["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # the config is mounted: no API access
    assert {"name": "pool-config", "configMap": {"name": "shared-router"}} in pod["volumes"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container_of(manifest)["securityContext"]["allowPrivilegeEscalation"] is False
    assert manifest["metadata"]["ownerReferences"][0]["kind"] == "ServingPool"
    assert container_of(manifest)["envFrom"] == [{"secretRef": {"name": SETTINGS.s3_secret}}]


def test_a_pool_scaled_to_zero_runs_no_server() -> None:
    assert build_pool_server_deployment(pool(replicas=0), SETTINGS)["spec"]["replicas"] == 0


def test_routers_are_pool_routers_following_the_pools_config_map() -> None:
    manifest = build_pool_router_deployment(pool(routerReplicas=3), SETTINGS)
    assert manifest["spec"]["replicas"] == 3
    env = plain_env(manifest)
    settings = RouterSettings(**{k.lower(): v for k, v in env.items()})
    assert settings.router_pool is True
    assert settings.router_config_map == "shared-router"
    assert settings.router_namespace == "team-a"
    assert manifest["spec"]["template"]["spec"]["serviceAccountName"] == "shared-router"
    role = next(m for m in build_pool_router_account(pool()) if m["kind"] == "Role")
    configmaps = next(r for r in role["rules"] if r["resources"] == ["configmaps"])
    assert configmaps["resourceNames"] == ["shared-router"]
    assert all("create" not in r["verbs"] and "patch" not in r["verbs"] for r in role["rules"])


def test_services_select_the_pods_they_name() -> None:
    servers = build_pool_server_deployment(pool(), SETTINGS)
    routers = build_pool_router_deployment(pool(), SETTINGS)
    server_labels = servers["spec"]["template"]["metadata"]["labels"]
    router_labels = routers["spec"]["template"]["metadata"]["labels"]
    selector = build_pool_server_service(pool())["spec"]["selector"]
    assert selector.items() <= server_labels.items()
    assert not selector.items() <= router_labels.items()
    owner = {"apiVersion": "mlops.dev/v1alpha1", "kind": "Deployment", "name": "fraud", "uid": "d"}
    pooled = build_pooled_service(
        deployment="fraud", namespace="team-a", owner=owner, pool="shared"
    )
    assert pooled["metadata"]["name"] == "fraud"  # http://fraud.team-a.svc
    assert pooled["spec"]["selector"].items() <= router_labels.items()
    assert dict(p.split("=") for p in pool_servers_selector("shared").split(",")) == selector


def test_the_config_map_holds_the_pool_config_as_routers_parse_it() -> None:
    config = PoolRouterConfig(pool="shared")
    manifest = build_pool_config_map(pool(), config)
    assert manifest["metadata"]["name"] == "shared-router"
    assert parse_pool_router_config(manifest["data"][ROUTER_CONFIG_KEY]) == config
