"""What the API server itself enforces for the operator: its RBAC (least privilege, no
Secrets), the built children being valid and allowed, and a started run's spec being frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OPERATOR_NAMESPACE,
    install,
    service_account_kubeconfig,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.training_job import (
    build_status_reporter,
    build_training_children,
    run_plan,
)
from mlops_operator.kube import ForbiddenError, InvalidError, Kube, load_api_client
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin(devcluster: DevCluster) -> Kube:
    kube = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(kube)
    return kube


@pytest.fixture(scope="module")
def operator_kube(
    devcluster: DevCluster, admin: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Kube:
    """The API as the operator's ServiceAccount sees it."""
    path = service_account_kubeconfig(
        admin,
        admin_kubeconfig=Path(devcluster.kubeconfig),
        path=tmp_path_factory.mktemp("sa") / "kubeconfig",
    )
    return Kube(load_api_client(str(path)))


def _training_job(admin: Kube, namespace: str, **spec: Any) -> TrainingJob:
    body = {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": "run", "namespace": namespace},
        "spec": {
            "modelName": "m",
            "dataset": {"train": "s3://mlops/datasets/x/train.csv"},
            "model": {"architecture": "mlp"},
            **spec,
        },
    }
    return TrainingJob.from_body(admin.create(body))


def test_the_operator_cannot_read_secrets_or_act_beyond_its_role(
    operator_kube: Kube, namespace: str
) -> None:
    with pytest.raises(ForbiddenError):
        operator_kube.get("v1", "Secret", "mlops-s3", OPERATOR_NAMESPACE)
    with pytest.raises(ForbiddenError):
        operator_kube.list("v1", "Secret", namespace)
    with pytest.raises(ForbiddenError):
        operator_kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": namespace},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        )
    with pytest.raises(ForbiddenError):
        operator_kube.delete("v1", "Namespace", namespace)
    assert operator_kube.list(API_VERSION, "TrainingJob") is not None
    assert operator_kube.list("v1", "Pod", namespace) == []


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"resources": {"gpu": 1, "gpuProduct": "NVIDIA-H100-80GB-HBM3"}},
        {"workers": 3, "deadlineSeconds": 600, "retries": 4},
    ],
    ids=["cpu", "gpu", "distributed"],
)
def test_the_operator_may_create_every_child_it_builds(
    admin: Kube, operator_kube: Kube, namespace: str, spec: dict[str, Any]
) -> None:
    tj = _training_job(admin, namespace, **spec)
    settings = OperatorSettings()
    children = build_training_children(
        tj, run_plan(tj, version="1.0.0", settings=settings), settings
    )
    # The namespace's trainer ServiceAccount, Role (granting what the operator itself holds on
    # trainingjobs/status: no escalation) and RoleBinding, created for real...
    for reporter in build_status_reporter(namespace):
        operator_kube.apply(reporter)
    # ...and the run's children validated by the API server's schemas and admission, and
    # authorised for the operator's ServiceAccount; only dry-run, so that no trainer starts.
    for child in children:
        live = operator_kube.apply(child, dry_run=True)
        assert live["metadata"]["ownerReferences"][0]["uid"] == tj.metadata.uid
    account = operator_kube.get("v1", "ServiceAccount", "mlops-trainer", namespace)
    assert account is not None


def test_a_started_runs_spec_cannot_change(admin: Kube, namespace: str) -> None:
    _training_job(admin, namespace)
    with pytest.raises(InvalidError, match="cannot change once created"):
        admin.merge_patch(
            API_VERSION, "TrainingJob", "run", namespace, {"spec": {"training": {"epochs": 99}}}
        )
