"""Every child a Deployment gets passes the real API server: schema, server-side apply, and
the restricted Pod Security profile for the pods their templates make."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mlops_core.routing import MirrorSpec
from mlops_devcluster.cluster import DevCluster
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.model_server import (
    ServedVersion,
    build_server_deployment,
    build_server_service,
)
from mlops_operator.builders.router import (
    build_router_account,
    build_router_config_map,
    build_router_deployment,
    build_router_service,
    router_config,
)
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.integration


def _pod_of(workload: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = workload["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{workload['metadata']['name']}-check", "namespace": namespace},
        "spec": template["spec"],
    }


def _router_may_read_only_its_config_map(devcluster: DevCluster, namespace: str) -> None:
    """What the API server authorises for the router's account: its ConfigMap by name (get,
    and list/watch selecting it by metadata.name), EndpointSlices; no other ConfigMap, no
    unselected list, no Secret, no write."""
    account = f"system:serviceaccount:{namespace}:fraud-router"

    def may(*request: str) -> bool:
        answer = devcluster.kubectl(
            "auth", "can-i", *request, "-n", namespace, f"--as={account}", check=False
        )
        return answer.stdout.strip() == "yes"

    # the authorizer sees a new Role and RoleBinding through its informers, a moment later
    deadline = time.monotonic() + 30
    while not may("get", "configmaps/fraud-router"):
        assert time.monotonic() < deadline, "the router's Role never took effect"
        time.sleep(0.2)
    assert may("watch", "configmaps/fraud-router")
    assert may("list", "endpointslices.discovery.k8s.io")
    assert not may("get", "configmaps/other-router")
    assert not may("list", "configmaps")
    assert not may("update", "configmaps/fraud-router")
    assert not may("get", "secrets/mlops-s3")
    # the router's own request: a list selecting its ConfigMap by name, as the account
    mine = devcluster.kubectl(
        "get", "configmaps", "-n", namespace, f"--as={account}",
        "--field-selector=metadata.name=fraud-router", check=False,
    )  # fmt: skip
    assert mine.returncode == 0, mine.stderr
    everything = devcluster.kubectl(
        "get", "configmaps", "-n", namespace, f"--as={account}", check=False
    )
    assert everything.returncode != 0
    assert "forbidden" in everything.stderr


def test_children_are_admitted_under_the_restricted_profile(
    devcluster: DevCluster, namespace: str
) -> None:
    admin = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration")
    admin.merge_patch(
        "v1",
        "Namespace",
        namespace,
        None,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    owner = admin.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": namespace},
        }
    )
    dep = Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "namespace": namespace, "uid": owner["metadata"]["uid"]},
            "spec": {
                "model": "fraud",
                "version": "1.2.0",
                "resources": {"cpu": "1", "memory": "1Gi", "gpu": 1},
                "serving": {"batching": {"enabled": False, "maxLatencyMs": 0.5}},
            },
        }
    )
    settings = OperatorSettings()
    served = ServedVersion(
        version="1.2.0",
        artifact_uri=f"s3://mlops/models/{namespace}/fraud/1.2.0/",
        digest="sha256:" + "0" * 64,
    )
    server = build_server_deployment(dep, served, replicas=2, settings=settings)
    router = build_router_deployment(dep, settings)
    for manifest in build_router_account(dep):
        # The router pods' ServiceAccount must exist for their admission. Applied without the
        # owner reference: the owning mlops.dev Deployment is not created here, and the garbage
        # collector deletes what a missing owner owns.
        manifest["metadata"].pop("ownerReferences", None)
        admin.apply(manifest)
    _router_may_read_only_its_config_map(devcluster, namespace)
    manifests = [
        build_server_service(dep, "1.2.0"),
        server,
        build_router_config_map(
            dep, router_config(dep, {"1.2.0": 100}, mirror=MirrorSpec(version="1.1.0", percent=5))
        ),
        router,
        build_router_service(dep),
    ]
    for manifest in manifests:
        live = admin.apply(manifest, dry_run=True)
        assert live["metadata"]["name"] == manifest["metadata"]["name"]
    for workload in (server, router):
        pod = admin.apply(_pod_of(workload, namespace), dry_run=True)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
