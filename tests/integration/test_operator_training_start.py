"""Starting a run costs the operator two writes and leaves no kopf bookkeeping on the
TrainingJob: no finalizer (so a run can be deleted while the operator is down) and no
annotations. The namespace allows no pods, so nothing trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    install,
    service_account_kubeconfig,
    wait_until,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube, load_api_client

pytestmark = pytest.mark.integration


def _run(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "modelName": "start-check",
            "dataset": {"train": "s3://mlops/datasets/breast-cancer/train.csv"},
            "model": {"architecture": "logistic_regression"},
            "training": {"epochs": 1},
        },
    }


def test_a_started_run_has_its_job_and_no_finalizer_or_annotations(
    devcluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    admin = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(admin)
    admin.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "no-pods", "namespace": namespace},
            "spec": {"hard": {"pods": "0"}},
        }
    )
    kubeconfig = service_account_kubeconfig(
        admin, admin_kubeconfig=Path(devcluster.kubeconfig), path=tmp_path / "kubeconfig"
    )
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=tmp_path / "operator.log", env=devcluster.s3_env()
    )
    with operator.start():
        for index in range(3):
            admin.create(_run(f"run-{index}", namespace))
        wait_until(
            lambda: len(admin.list("batch/v1", "Job", namespace)) == 3,
            timeout=60,
            what="a Job for every TrainingJob",
        )
        versions = set()
        for index in range(3):
            body = admin.get(API_VERSION, "TrainingJob", f"run-{index}", namespace)
            assert body is not None
            assert body["status"]["phase"] == "Pending"
            versions.add(body["status"]["version"])
            assert not body["metadata"].get("finalizers"), body["metadata"]
            assert not any(
                key.startswith("mlops.dev/") for key in body["metadata"].get("annotations", {})
            ), body["metadata"]
        assert len(versions) == 3, f"each run chose its own version: {versions}"
    # The operator is stopped: the run still goes away at once with its Job.
    admin.delete(API_VERSION, "TrainingJob", "run-0", namespace)
    wait_until(
        lambda: admin.get(API_VERSION, "TrainingJob", "run-0", namespace) is None,
        timeout=10,
        what="the TrainingJob deleted while the operator is down",
    )
