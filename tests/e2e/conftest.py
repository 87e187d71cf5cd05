"""Fixtures for running the operator end to end on the devcluster.

The operator runs as a local process with a token of its own ServiceAccount, bound to the
chart's ClusterRole (never as admin); trainer pods run on the devcluster's node agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment_support import ServingOperator, restricted_namespace, serving_operator
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


@pytest.fixture(scope="session")
def admin(devcluster: DevCluster) -> Kube:
    return Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="e2e-tests")


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
def start_operator(
    devcluster: DevCluster, operator_kubeconfig: Path, tmp_path: Path
) -> Iterator[StartOperator]:
    """Start the operator (call it again after a kill to restart it); stopped after the test."""
    started: list[OperatorProcess] = []

    def start(**env: str) -> OperatorProcess:
        process = OperatorProcess(
            kubeconfig=operator_kubeconfig,
            log_path=tmp_path / "operator.log",
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


@pytest.fixture(scope="module")
def ns(admin: Kube, operator_kubeconfig: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The module's own namespace under the restricted Pod Security profile, named after its
    ``NAMESPACE_PREFIX`` (the Deployment tests: every pod must be admitted there)."""
    with restricted_namespace(admin, request.module.NAMESPACE_PREFIX) as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    devcluster: DevCluster,
    operator_kubeconfig: Path,
    ns: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServingOperator]:
    """The operator serving the module's Deployments in ``ns`` (restartable)."""
    log = tmp_path_factory.mktemp("op") / "operator.log"
    with serving_operator(devcluster, operator_kubeconfig, log) as started:
        yield started
