"""Fixtures of the tiers that run the operator on the devcluster (e2e and reliability).

The operator runs as a local process with a token of its own ServiceAccount, bound to the
chart's ClusterRole (never as admin); trainer pods run on the devcluster's node agent. A tier's
conftest imports these names to use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import StartOperator, s3_client_of

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    copy_s3_secret,
    install,
    service_account_kubeconfig,
    upload_example_datasets,
)
from mlops_operator.kube import Kube, load_api_client

__all__ = ["admin", "operator_kubeconfig", "operator_log", "start_operator", "training_namespace"]


@pytest.fixture(scope="session")
def admin(devcluster: DevCluster) -> Kube:
    return Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="mlops-tests")


@pytest.fixture(scope="session")
def operator_kubeconfig(
    devcluster: DevCluster, admin: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """CRDs, peering and RBAC installed, datasets uploaded; the ServiceAccount's kubeconfig."""
    install(admin)
    upload_example_datasets(f"s3://{devcluster.bucket}", client=s3_client_of(devcluster))
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    return service_account_kubeconfig(
        admin, admin_kubeconfig=Path(devcluster.kubeconfig), path=path
    )


@pytest.fixture
def operator_log(tmp_path: Path) -> Path:
    return tmp_path / "operator.log"


@pytest.fixture
def start_operator(
    devcluster: DevCluster, operator_kubeconfig: Path, operator_log: Path
) -> Iterator[StartOperator]:
    """Start the operator (again after a kill); every start appends to one log file. Stopped
    after the test."""
    started: list[OperatorProcess] = []

    def start(**env: str) -> OperatorProcess:
        process = OperatorProcess(
            kubeconfig=operator_kubeconfig,
            log_path=operator_log,
            env={**devcluster.s3_env(), "MLOPS_PEERING_LIFETIME_SECONDS": "5", **env},
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def training_namespace(namespace: str, admin: Kube) -> str:
    """A fresh namespace holding the S3 Secret trainer pods read."""
    copy_s3_secret(admin, namespace)
    return namespace
