"""The operator killed (SIGKILL) in the middle of a run, restarted: the run completes with
exactly one Job and one ModelVersion."""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import StartOperator, tabular_model, tabular_training_job

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e


def _phase(admin: Kube, namespace: str, name: str) -> str | None:
    body = admin.get(API_VERSION, "TrainingJob", name, namespace) or {}
    return (body.get("status") or {}).get("phase")


def test_sigkill_mid_flow_creates_nothing_twice(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    operator = start_operator()
    manifests = [tabular_model(), tabular_training_job("restarted", training={"epochs": 4})]
    devcluster.kubectl(
        "apply", "-n", ns, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )

    # Killed while it starts the run (version chosen, children being created)...
    wait_until(
        lambda: (
            (admin.get(API_VERSION, "TrainingJob", "restarted", ns) or {})
            .get("status", {})
            .get("version")
        ),
        timeout=60,
        what="the run's version to be recorded",
        interval=0.05,
    )
    operator.kill()
    operator = start_operator()
    # ...and again while the trainer runs, staying down until the Job has finished.
    wait_until(lambda: admin.list("batch/v1", "Job", ns), timeout=60, what="the Job")
    operator.kill()
    wait_until(
        lambda: any(
            c["type"] == "Complete" and c["status"] == "True"
            for job in admin.list("batch/v1", "Job", ns)
            for c in job.get("status", {}).get("conditions") or []
        ),
        timeout=300,
        what="the Job to complete while the operator is down",
        interval=1,
    )
    assert _phase(admin, ns, "restarted") in ("Pending", "Running")
    time.sleep(1)
    start_operator()
    wait_until(
        lambda: _phase(admin, ns, "restarted") in ("Succeeded", "Failed"),
        timeout=120,
        what="the run to finish after the restart",
    )
    body = admin.get(API_VERSION, "TrainingJob", "restarted", ns)
    assert body is not None
    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert len(admin.list("batch/v1", "Job", ns)) == 1
    versions = admin.list(API_VERSION, "ModelVersion", ns)
    assert [v["metadata"]["name"] for v in versions] == ["breast-cancer-v1-0-0"]
    assert body["status"]["modelVersion"] == "breast-cancer-v1-0-0"
