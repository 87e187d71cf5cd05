"""A ServingPool end to end: the operator runs its servers and router under the restricted Pod
Security profile, reports them in status (Ready, servers, printer columns), and a pool scaled
to 0 is Stalled with a condition that says to scale it up. About a minute on a quiet machine."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import OperatorProcess, copy_s3_secret, wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

POOL = "shared"


@pytest.fixture(scope="module")
def pool_ns(devcluster: DevCluster, admin: Kube, operator_kubeconfig: Path) -> Iterator[str]:
    name = f"pool-{secrets.token_hex(3)}"
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
    )
    wait_until(
        lambda: admin.get("v1", "ServiceAccount", "default", name),
        timeout=30,
        what="the namespace's default ServiceAccount",
    )
    copy_s3_secret(admin, name)
    yield name
    admin.delete("v1", "Namespace", name)


@pytest.fixture(scope="module")
def pool_operator(
    devcluster: DevCluster, operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    env = {
        **devcluster.s3_env(),
        "MLOPS_PEERING_LIFETIME_SECONDS": "5",
        "USE_MLOPS_SERVING": "true",
    }
    log = tmp_path_factory.mktemp("pool-op") / "operator.log"
    process = OperatorProcess(kubeconfig=operator_kubeconfig, log_path=log, env=env)
    process.start()
    yield process
    process.stop()


def pool_status(admin: Kube, namespace: str) -> dict[str, Any]:
    body = admin.get(API_VERSION, "ServingPool", POOL, namespace) or {}
    return dict(body.get("status") or {})


def condition_of(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def wait_pool(
    admin: Kube, namespace: str, check: Any, *, what: str, timeout: float = 180
) -> dict[str, Any]:
    try:
        return wait_until(
            lambda: (s := pool_status(admin, namespace)) and check(s) and s,
            timeout=timeout,
            what=what,
            interval=0.5,
        )
    except TimeoutError as exc:
        last = json.dumps(pool_status(admin, namespace), indent=1)[:3000]
        raise TimeoutError(f"{exc}; the last status:\n{last}") from None


def test_a_pool_runs_its_servers_and_router_and_a_pool_scaled_to_zero_says_what_to_fix(
    devcluster: DevCluster, admin: Kube, pool_ns: str, pool_operator: OperatorProcess
) -> None:
    body = {
        "apiVersion": API_VERSION,
        "kind": "ServingPool",
        "metadata": {"name": POOL},
        "spec": {
            "replicas": 2,
            "routerReplicas": 1,
            "modelMemory": "256Mi",
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }
    devcluster.kubectl("apply", "-n", pool_ns, "-f", "-", input=json.dumps(body))
    status = wait_pool(
        admin,
        pool_ns,
        lambda s: condition_of(s, "Ready").get("status") == "True",
        what="the pool Ready",
    )
    assert status["phase"] == "Serving"
    assert status["serversSummary"] == "2/2"
    assert status["readyRouters"] == 1
    assert len(status["servers"]) == 2
    assert all(s["ready"] for s in status["servers"])
    assert status["memoryBudgetBytes"] == 2 * 256 * 2**20
    printed = devcluster.kubectl("get", "mlpool", "-n", pool_ns).stdout
    assert "2/2" in printed
    assert "Serving" in printed
    # the pool's children carry its owner reference and run non-root (restricted namespace)
    servers = admin.get("apps/v1", "Deployment", f"{POOL}-server", pool_ns)
    assert servers is not None
    assert servers["metadata"]["ownerReferences"][0]["kind"] == "ServingPool"
    devcluster.kubectl("scale", "-n", pool_ns, f"mlpool/{POOL}", "--replicas=0")
    status = wait_pool(
        admin,
        pool_ns,
        lambda s: condition_of(s, "Stalled").get("reason") == "NoServers",
        what="the pool scaled to 0 Stalled",
    )
    assert status["phase"] == "Stopped"
    assert "scale it up" in condition_of(status, "Stalled")["message"]
    assert condition_of(status, "Ready")["status"] == "False"
