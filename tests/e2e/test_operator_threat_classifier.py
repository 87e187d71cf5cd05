"""The README's flow: apply the example, train, register, promote — with the real pieces."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_support import StartOperator, StatusRecorder, s3_client_of

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "threat-classifier"
RESTRICTED = "pod-security.kubernetes.io/enforce"


def _status(admin: Kube, kind: str, name: str, namespace: str) -> dict[str, Any]:
    body = admin.get(API_VERSION, kind, name, namespace)
    assert body is not None, f"{kind} {name} is gone"
    return dict(body.get("status") or {})


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def test_threat_classifier_example_trains_registers_and_promotes(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    # Trainer pods must pass the restricted Pod Security Standard.
    admin.merge_patch(
        "v1", "Namespace", ns, None, {"metadata": {"labels": {RESTRICTED: "restricted"}}}
    )
    start_operator()
    with StatusRecorder(admin, "trainingjobs", "threat-classifier-cnn", ns) as recorded:
        devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLE))

        def finished() -> dict[str, Any] | None:
            status = _status(admin, "TrainingJob", "threat-classifier-cnn", ns)
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_until(finished, timeout=420, what="the example TrainingJob to finish")
        assert status["phase"] == "Succeeded", status
        devcluster.kubectl(
            "wait",
            "-n",
            ns,
            "--for=condition=Succeeded",
            "trainingjob/threat-classifier-cnn",
            "--timeout=30s",
        )
    # the trainer reported each epoch while it ran, before the run succeeded
    running_epochs = {
        s["progress"]["epoch"]
        for s in recorded.statuses
        if s.get("progress") and s.get("phase") != "Succeeded"
    }
    assert len(running_epochs - {0}) >= 2, f"progress did not move through epochs: {running_epochs}"
    progress = status["progress"]
    assert progress["totalEpochs"] == 5
    assert progress["history"]
    assert status["version"] == "1.0.0"
    assert status["modelVersion"] == "threat-classifier-v1-0-0"
    assert _condition(status, "Succeeded")["reason"] == "ModelVersionCreated"
    assert len(admin.list("batch/v1", "Job", ns)) == 1

    version = admin.get(API_VERSION, "ModelVersion", "threat-classifier-v1-0-0", ns)
    assert version is not None
    wait_until(
        lambda: (
            _condition(_status(admin, "ModelVersion", "threat-classifier-v1-0-0", ns), "Ready").get(
                "status"
            )
            == "True"
        ),
        timeout=60,
        what="the ModelVersion to be Ready",
    )
    spec = version["spec"]
    assert spec["model"] == "threat-classifier"
    assert spec["stage"] == "draft"
    assert spec["lineage"] == {"trainingJob": "threat-classifier-cnn"}
    assert spec["hyperparameters"]["architecture"] == "cnn_text"
    assert spec["metrics"], "the ModelVersion carries the run's metrics"
    assert all(0.0 <= value <= 1.0 for name, value in spec["metrics"].items() if "acc" in name)

    # The artifact is in MinIO and its manifest is what the digest names.
    uri = spec["artifact"]["uri"]
    assert uri == f"s3://mlops/models/{ns}/threat-classifier/1.0.0/"
    key = uri.removeprefix("s3://mlops/") + "manifest.json"
    manifest = s3_client_of(devcluster).get_object(Bucket="mlops", Key=key)["Body"].read()
    assert spec["artifact"]["digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()

    # kubectl mlops promote ... --stage production → the Model shows it.
    promoted = subprocess.run(
        [
            "kubectl",
            "mlops",
            "promote",
            "threat-classifier",
            "1.0.0",
            "--stage",
            "production",
            "-n",
            ns,
            "--wait",
            "60",
        ],
        env=devcluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "draft → production" in promoted.stdout
    model = _status(admin, "Model", "threat-classifier", ns)
    assert model["productionVersion"] == "1.0.0"
    assert model["latestVersion"] == "1.0.0"
    assert model["versionCount"] == 1
    history = _status(admin, "ModelVersion", "threat-classifier-v1-0-0", ns)["stageHistory"]
    assert [h["stage"] for h in history] == ["draft", "production"]
    listed = subprocess.run(
        ["kubectl", "mlops", "models", "-n", ns],
        env=devcluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "threat-classifier" in listed.stdout

    # Deleting the TrainingJob removes its Job and pods; the ModelVersion stays.
    devcluster.kubectl("delete", "-n", ns, "trainingjob/threat-classifier-cnn", "--wait=true")
    wait_until(
        lambda: not admin.list("batch/v1", "Job", ns) and not admin.list("v1", "Pod", ns),
        timeout=60,
        what="the Job and its pods to be garbage-collected",
    )
    assert admin.get(API_VERSION, "ModelVersion", "threat-classifier-v1-0-0", ns) is not None
