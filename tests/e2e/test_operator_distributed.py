"""examples/distributed: two workers train one model with DDP and register one version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import StartOperator, tabular_model

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed" / "trainingjob.yaml"
INDEX = "batch.kubernetes.io/job-completion-index"


def _ready(version: dict[str, Any] | None) -> bool:
    conditions = ((version or {}).get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_distributed_example_trains_on_two_workers_and_registers_one_version(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    job_name = "breast-cancer-ddp"
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example["spec"]["workers"] == 2
    example["spec"]["training"]["epochs"] = 2
    start_operator()
    admin.create({**tabular_model(), "metadata": {"name": "breast-cancer", "namespace": ns}})
    devcluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(example))

    def finished() -> dict[str, Any] | None:
        body = admin.get(API_VERSION, "TrainingJob", job_name, ns)
        status = dict((body or {}).get("status") or {})
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    final = wait_until(finished, timeout=300, what="the distributed TrainingJob to finish")
    assert final["phase"] == "Succeeded", final
    devcluster.kubectl(
        "wait",
        "-n",
        ns,
        "--for=condition=Succeeded",
        f"trainingjob/{job_name}",
        "--timeout=30s",
    )

    jobs = admin.list("batch/v1", "Job", ns)
    assert len(jobs) == 1
    job = jobs[0]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == 2
    assert job["status"].get("succeeded") == 2, job["status"]
    assert job["status"].get("completedIndexes") == "0,1", job["status"]
    service = admin.get("v1", "Service", job["metadata"]["name"], ns)
    assert service is not None
    assert service["spec"]["clusterIP"] == "None"

    pods = admin.list("v1", "Pod", ns)
    succeeded = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
    indexes = sorted(p["metadata"]["annotations"][INDEX] for p in succeeded)
    assert indexes == ["0", "1"], [(p["metadata"]["name"], p.get("status")) for p in pods]

    body = admin.get(API_VERSION, "TrainingJob", job_name, ns)
    assert body is not None
    status = body["status"]
    assert status["phase"] == "Succeeded"
    assert status["progress"]["totalEpochs"] == 2
    versions = admin.list(API_VERSION, "ModelVersion", ns)
    assert [v["metadata"]["name"] for v in versions] == [status["modelVersion"]]
    version = wait_until(
        lambda: (
            (mv := admin.get(API_VERSION, "ModelVersion", status["modelVersion"], ns))
            and _ready(mv)
            and mv
        ),
        timeout=60,
        what="the distributed ModelVersion to be Ready",
    )
    spec = version["spec"]
    assert spec["model"] == "breast-cancer"
    assert spec["lineage"] == {"trainingJob": job_name}
    assert spec["hyperparameters"]["architecture"] == "mlp"
    assert spec["metrics"]["val_accuracy"] > 0.85, spec["metrics"]
