"""The trainer against the devcluster: datasets and artifacts in MinIO, progress in the
TrainingJob's status through the real kube-apiserver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_core.artifact import MANIFEST_FILE
from mlops_core.artifact_io import load_artifact
from mlops_core.progress import TrainingResult
from mlops_core.storage import join_uri, open_store, s3_client
from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data" / "breast-cancer"
CRD = REPO / "crds" / "mlops.dev_trainingjobs.yaml"
CLEARED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLOPS_TRAININGJOB_NAME",
    "MLOPS_TRAININGJOB_NAMESPACE",
    "WORLD_SIZE",
    "RANK",
    "JOB_COMPLETION_INDEX",
    "MLOPS_TRAINER_CONFIG",
)


def _config(data: str, artifact: str, *, epochs: int = 3, seed: int = 42) -> dict[str, Any]:
    return {
        "dataset": {
            "train": f"{data}/train.csv",
            "validation": f"{data}/validation.csv",
            "test": f"{data}/test.csv",
            "labelColumn": "diagnosis",
        },
        "model": {"architecture": "logistic_regression", "optimizer": {"learningRate": 0.05}},
        "training": {"epochs": epochs, "seed": seed, "earlyStopping": {"enabled": False}},
        "output": {"modelName": "breast-cancer", "version": "1.0.0", "artifactUri": artifact},
    }


def _run(
    config: dict[str, Any], tmp_path: Path, devcluster: DevCluster, **extra: str
) -> tuple[subprocess.CompletedProcess[str], TrainingResult]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(devcluster.env())
    env.update(OMP_NUM_THREADS="1", MLOPS_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination"))
    env.update(MLOPS_TRAINER_CONFIG=json.dumps(config), **extra)
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = TrainingResult.model_validate_json((tmp_path / "termination").read_bytes())
    return proc, result


def _upload_examples(devcluster: DevCluster, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in devcluster.env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    client = s3_client()
    store = open_store(join_uri(prefix, "datasets"), client)
    for split in ("train", "validation", "test"):
        store.write_bytes(f"{split}.csv", (EXAMPLES / f"{split}.csv").read_bytes())
    return client


def test_datasets_and_artifact_in_minio(
    devcluster: DevCluster, s3_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _upload_examples(devcluster, s3_prefix, monkeypatch)
    artifact_uri = join_uri(s3_prefix, "models", "breast-cancer", "1.0.0")
    config = _config(join_uri(s3_prefix, "datasets"), artifact_uri)
    proc, result = _run(config, tmp_path, devcluster)
    assert proc.returncode == 0, proc.stderr
    assert result.succeeded
    assert result.artifact_uri == artifact_uri

    store = open_store(artifact_uri, client)
    loaded = load_artifact(store)
    assert loaded.digest == result.digest
    assert loaded.metrics.test["test_accuracy"] > 0.9
    assert store.list("checkpoints/") == []

    other = _config(join_uri(s3_prefix, "datasets"), artifact_uri, seed=3)
    proc, refused = _run(other, tmp_path, devcluster)
    assert proc.returncode == 1
    assert "already exists" in (refused.reason or "")
    assert load_artifact(store).digest == result.digest


def test_missing_object_in_minio_is_a_clear_failure(
    devcluster: DevCluster, s3_prefix: str, tmp_path: Path
) -> None:
    config = _config(join_uri(s3_prefix, "nothing-here"), join_uri(s3_prefix, "models/m/1.0.0"))
    proc, result = _run(config, tmp_path, devcluster)
    assert proc.returncode == 1
    assert result.reason == f"dataset.train: {s3_prefix}/nothing-here/train.csv does not exist"
    assert not open_store(join_uri(s3_prefix, "models/m/1.0.0"), s3_client_of(devcluster)).exists(
        MANIFEST_FILE
    )


def s3_client_of(devcluster: DevCluster) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=devcluster.s3_endpoint,
        aws_access_key_id=devcluster.s3_access_key,
        aws_secret_access_key=devcluster.s3_secret_key,
        region_name="us-east-1",
    )


def _training_job(namespace: str, name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "modelName": "breast-cancer",
                "dataset": {"train": "s3://mlops/datasets/breast-cancer/train.csv"},
                "model": {"architecture": "logistic_regression"},
            },
        }
    )


def test_progress_reaches_the_trainingjob_status(
    devcluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    devcluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/trainingjobs.mlops.dev"
    )
    devcluster.kubectl("create", "-f", "-", input=_training_job(namespace, "tj-progress"))
    data = str(EXAMPLES)
    proc, result = _run(
        _config(data, str(tmp_path / "out"), epochs=3),
        tmp_path,
        devcluster,
        MLOPS_TRAININGJOB_NAME="tj-progress",
        MLOPS_TRAININGJOB_NAMESPACE=namespace,
    )
    assert proc.returncode == 0, proc.stderr
    assert "switched off" not in proc.stderr
    body = json.loads(
        devcluster.kubectl(
            "get", "trainingjob", "tj-progress", "-n", namespace, "-o", "json"
        ).stdout
    )
    progress = body["status"]["progress"]
    assert (progress["epoch"], progress["totalEpochs"]) == (3, 3)
    assert [h["epoch"] for h in progress["history"]] == [1, 2, 3]
    assert set(progress["latestMetrics"]) >= {"train_loss", "val_accuracy", "val_loss"}
    assert progress["bestEpoch"] == result.best_epoch


def test_a_failing_status_reporter_never_fails_training(
    devcluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    proc, result = _run(
        _config(str(EXAMPLES), str(tmp_path / "out"), epochs=2),
        tmp_path,
        devcluster,
        MLOPS_TRAININGJOB_NAME="no-such-job",
        MLOPS_TRAININGJOB_NAMESPACE=namespace,
    )
    assert proc.returncode == 0, proc.stderr
    assert result.succeeded
    assert proc.stderr.count("KubernetesReporter failed") == 1
