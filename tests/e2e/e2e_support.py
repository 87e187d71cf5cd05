"""What the end-to-end tests share: small, fast TrainingJob manifests (tabular data, few
epochs), an S3 client for the devcluster's MinIO."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_core.storage import s3_client
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import OperatorProcess
from mlops_operator.api.meta import API_VERSION

DATA = "s3://mlops/datasets/breast-cancer"


def tabular_model(name: str = "breast-cancer") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {"task": "tabular-classification"},
    }


def tabular_training_job(name: str, *, model: str = "breast-cancer", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "modelName": model,
            "dataset": {
                "train": f"{DATA}/train.csv",
                "validation": f"{DATA}/validation.csv",
                "labelColumn": "diagnosis",
            },
            "model": {"architecture": "logistic_regression"},
            "training": {"epochs": 3, "batchSize": 64},
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "retries": 0,
        },
    }
    body["spec"].update(spec)
    return body


StartOperator = Callable[..., OperatorProcess]


def s3_client_of(devcluster: DevCluster) -> Any:
    return s3_client(
        endpoint=devcluster.s3_endpoint,
        access_key=devcluster.s3_access_key,
        secret_key=devcluster.s3_secret_key,
    )
