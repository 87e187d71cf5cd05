"""GPU placement, and a failing trainer's reason reaching the TrainingJob."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_support import StartOperator, tabular_model, tabular_training_job

from mlops_devcluster.cluster import GPU_NODE, DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e


def _apply(devcluster: DevCluster, namespace: str, *manifests: dict[str, Any]) -> None:
    devcluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )


def _node_of(admin: Kube, namespace: str, training_job: str) -> str | None:
    for pod in admin.list(
        "v1", "Pod", namespace, label_selector=f"mlops.dev/trainingjob={training_job}"
    ):
        node = pod.get("spec", {}).get("nodeName")
        if node:
            return str(node)
    return None


def test_gpu_runs_land_on_the_gpu_node_and_cpu_runs_never_do(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    gpu = tabular_training_job(
        "on-gpu",
        resources={"cpu": "500m", "memory": "1Gi", "gpu": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"},
    )
    cpu = tabular_training_job("on-cpu")
    _apply(devcluster, ns, tabular_model(), gpu, cpu)
    gpu_node = wait_until(lambda: _node_of(admin, ns, "on-gpu"), timeout=90, what="the GPU pod")
    cpu_node = wait_until(lambda: _node_of(admin, ns, "on-cpu"), timeout=90, what="the CPU pod")
    assert gpu_node == GPU_NODE
    assert cpu_node != GPU_NODE
    (pod,) = admin.list("v1", "Pod", ns, label_selector="mlops.dev/trainingjob=on-gpu")
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"


def test_a_gpu_product_no_node_has_stays_pending(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    _apply(
        devcluster,
        ns,
        tabular_model(),
        tabular_training_job("no-such-gpu", resources={"gpu": 1, "gpuProduct": "NVIDIA-B300"}),
    )
    pod = wait_until(
        lambda: admin.list("v1", "Pod", ns, label_selector="mlops.dev/trainingjob=no-such-gpu"),
        timeout=60,
        what="the pod",
    )[0]
    wait_until(
        lambda: any(
            c["type"] == "PodScheduled" and c["status"] == "False"
            for c in (admin.get("v1", "Pod", pod["metadata"]["name"], ns) or {})
            .get("status", {})
            .get("conditions", [])
        ),
        timeout=60,
        what="the scheduler to refuse the pod",
    )
    assert _node_of(admin, ns, "no-such-gpu") is None


def test_a_failing_trainer_sets_the_real_reason(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    broken = tabular_training_job("broken")
    broken["spec"]["dataset"]["labelColumn"] = "no_such_column"
    _apply(devcluster, ns, tabular_model(), broken)
    devcluster.kubectl(
        "wait", "-n", ns, "--for=condition=Succeeded=false", "trainingjob/broken", "--timeout=240s"
    )
    body = admin.get(API_VERSION, "TrainingJob", "broken", ns)
    assert body is not None
    status = body["status"]
    assert status["phase"] == "Failed"
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "BackoffLimitExceeded"
    assert "exit code" in succeeded["message"]
    assert "no_such_column" in succeeded["message"], succeeded["message"]
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert admin.list(API_VERSION, "ModelVersion", ns) == []


def test_a_run_without_registration_publishes_a_verified_artifact_only(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    _apply(
        devcluster,
        ns,
        tabular_model(),
        tabular_training_job("trial", training={"epochs": 2}, registration={"enabled": False}),
    )
    devcluster.kubectl(
        "wait", "-n", ns, "--for=condition=Succeeded", "trainingjob/trial", "--timeout=240s"
    )
    body = admin.get(API_VERSION, "TrainingJob", "trial", ns)
    assert body is not None
    status = body["status"]
    assert status["version"].startswith("0.0.0-run-")
    assert status["artifact"]["digest"].startswith("sha256:")
    assert status["artifact"]["uri"].endswith(f"/{ns}/breast-cancer/{status['version']}/")
    assert "modelVersion" not in status
    assert status["metrics"]
    assert admin.list(API_VERSION, "ModelVersion", ns) == []
