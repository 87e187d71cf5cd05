"""The operator watching one namespace (MLOPS_WATCH_NAMESPACE): it acts there, with kopf
peering in that namespace (a KopfPeering it creates when none is there), and leaves every other
namespace alone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    PEERING_NAME,
    OperatorProcess,
    install,
    service_account_kubeconfig,
    wait_until,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube, load_api_client

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "0" * 64


@pytest.fixture
def other_namespace(devcluster: DevCluster) -> Iterator[str]:
    admin = Kube(load_api_client(str(devcluster.kubeconfig)))
    name = f"test-other-{secrets.token_hex(3)}"
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    admin.delete("v1", "Namespace", name)


def _version(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": "m-v1-0-0", "namespace": namespace},
        "spec": {
            "model": "m",
            "version": "1.0.0",
            "artifact": {"uri": "s3://mlops/nowhere/m/1.0.0/", "digest": DIGEST},
        },
    }


def test_a_namespaced_operator_acts_only_in_its_namespace(
    devcluster: DevCluster, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    admin = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(admin)  # the cluster's peering object only: the operator creates its namespace's
    assert admin.get("kopf.dev/v1", "KopfPeering", PEERING_NAME, namespace) is None
    kubeconfig = service_account_kubeconfig(
        admin, admin_kubeconfig=Path(devcluster.kubeconfig), path=tmp_path / "kubeconfig"
    )
    operator = OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=tmp_path / "operator.log",
        env={
            **devcluster.s3_env(),
            "MLOPS_WATCH_NAMESPACE": namespace,
            "MLOPS_PEERING_LIFETIME_SECONDS": "5",
        },
    )
    with operator.start():
        admin.create(_version(namespace))
        admin.create(_version(other_namespace))

        def stalled(ns: str) -> bool:
            body = admin.get(API_VERSION, "ModelVersion", "m-v1-0-0", ns) or {}
            return any(
                c["type"] == "Stalled" and c["status"] == "True"
                for c in (body.get("status") or {}).get("conditions", [])
            )

        wait_until(lambda: stalled(namespace), timeout=60, what="the watched namespace's version")
        peering = admin.get("kopf.dev/v1", "KopfPeering", PEERING_NAME, namespace)
        assert peering is not None
        assert peering.get("status"), "the operator registered itself in the namespace's peering"
    other = admin.get(API_VERSION, "ModelVersion", "m-v1-0-0", other_namespace)
    assert other is not None
    assert not other.get("status"), "a namespace the operator does not watch is left alone"
