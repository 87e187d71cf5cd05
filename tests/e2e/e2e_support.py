"""What the end-to-end tests share: small, fast TrainingJob manifests (tabular data, few
epochs), an S3 client for the devcluster's MinIO."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from mlops_core.storage import s3_client
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import OperatorProcess
from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.kube import Kube

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


class StatusRecorder:
    """Every status one named ``mlops.dev`` object passes through, from a watch: a poll misses
    a state that lasts less than its interval (an epoch of a small model on a fast machine)."""

    def __init__(self, admin: Kube, plural: str, name: str, namespace: str) -> None:
        self.statuses: list[dict[str, Any]] = []
        self._api = k8s.CustomObjectsApi(admin.api_client)
        self._where = (plural, name, namespace)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, daemon=True)

    def __enter__(self) -> StatusRecorder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _record(self) -> None:
        plural, name, namespace = self._where
        version: str | None = None
        while not self._stop.is_set():
            query: dict[str, Any] = {
                "field_selector": f"metadata.name={name}",
                "timeout_seconds": 2,
            }
            if version:
                query["resource_version"] = version
            try:
                for event in watch.Watch().stream(
                    self._api.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    **query,
                ):
                    body = event["object"]
                    version = body["metadata"]["resourceVersion"]
                    self.statuses.append(dict(body.get("status") or {}))
            except ApiException as error:
                if error.status != 410:  # a version too old to resume from: list again
                    raise
                version = None
