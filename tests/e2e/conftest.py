"""Fixtures for running the operator end to end on the devcluster: the operator's own
(``operator_fixtures``, shared with the reliability tier) and the Deployment tests' module
namespace and restartable operator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment_support import ServingOperator, restricted_namespace, serving_operator
from operator_fixtures import (  # noqa: F401 (fixtures shared with the reliability tier)
    admin,
    operator_kubeconfig,
    operator_log,
    start_operator,
    training_namespace,
)

from mlops_devcluster.cluster import DevCluster
from mlops_operator.kube import Kube


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
