"""Shared pytest fixtures: a devcluster for the integration and e2e tiers.

- ``devcluster`` (session): a :class:`mlops_devcluster.cluster.DevCluster`. Started in a
  temporary state folder on free ports and torn down at the end, or, when
  ``$MLOPS_DEVCLUSTER_DIR`` points at a running devcluster, that one (left running).
- ``kube_api`` (session): a ``kubernetes.client.ApiClient`` for it.
- ``namespace`` (function): a fresh namespace whose ``default`` ServiceAccount exists;
  deleted after the test.
- ``s3_prefix`` (function): a fresh ``s3://mlops/test-<random>`` URI on its MinIO, emptied after.
- ``helm`` (session): the path of the pinned helm binary (found, else built once before the
  first test, like the devcluster binaries).
- ``kueue`` (session): Kueue's CRDs installed and its manager running on the devcluster
  (built once before the first test that asks for it); only the queue tests pay for it.

Unit tests may not use these: a ``unit`` test asking for one is a collection error.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlops_devcluster import lifecycle
from mlops_devcluster.binaries import (
    KueueRelease,
    MissingBinaryError,
    resolve_binaries,
    resolve_helm,
    resolve_kueue,
)
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kube import ApiError
from mlops_devcluster.kueue import KueueStartError, start_kueue
from mlops_devcluster.layout import DIR_ENV
from mlops_devcluster.ports import PortInUseError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

TIERS = ("unit", "integration", "e2e", "reliability")
CLUSTER_FIXTURES = {"devcluster", "kube_api", "namespace", "s3_prefix", "kueue"}
START_TIMEOUT = 180.0


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: build only for tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t) is not None]
        if not tiers:
            problems.append(
                f"{item.nodeid}: no tier marker "
                "(add @pytest.mark.unit, integration, e2e or reliability)"
            )
        uses = CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if "unit" in tiers and uses:
            problems.append(
                f"{item.nodeid}: a unit test may not use the cluster fixtures "
                f"({', '.join(sorted(uses))}); mark it integration"
            )
    if problems:
        raise pytest.UsageError("\n".join(problems))
    needs_cluster = any(CLUSTER_FIXTURES & set(getattr(i, "fixturenames", ())) for i in items)
    if needs_cluster and not config.option.collectonly and not os.environ.get(DIR_ENV):
        BINARIES.provide(config)
    if not config.option.collectonly and any(
        "helm" in getattr(i, "fixturenames", ()) for i in items
    ):
        HELM.provide(config)
    if not config.option.collectonly and any(
        "kueue" in getattr(i, "fixturenames", ()) for i in items
    ):
        KUEUE.provide(config)


@dataclass(frozen=True)
class PinnedTool:
    """A pinned build (devcluster binaries, helm, Kueue) found, else built once before the
    first test that needs it: a first build takes longer than one test's timeout."""

    name: str
    build_minutes: int
    resolve: Callable[..., object]
    #: why it could not be had (the fixture that needs it fails with it)
    problem: list[str] = field(default_factory=list)

    def provide(self, config: pytest.Config) -> None:
        try:
            self.resolve(build=False)
            return
        except MissingBinaryError:
            pass
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{self.name} missing: built once now from the Go module proxy (about "
                f"{self.build_minutes} minutes on 2 cores; cached in ~/.cache/mlops-devcluster)"
            )
        try:
            self.resolve(build=True)
        except MissingBinaryError as exc:
            self.problem.append(str(exc))

    def require(self, what: str) -> None:
        """Fail the asking test when the build could not be had."""
        if self.problem:
            pytest.fail(f"{what}: {self.problem[0]}", pytrace=False)


BINARIES = PinnedTool("devcluster binaries", 12, resolve_binaries)
HELM = PinnedTool("helm", 4, resolve_helm)
KUEUE = PinnedTool("Kueue", 5, resolve_kueue)


@pytest.fixture(scope="session")
def kueue(devcluster: DevCluster) -> KueueRelease:
    """Kueue's manager on the session's devcluster (stopped with it)."""
    KUEUE.require("Kueue is not available")
    try:
        return start_kueue(devcluster)
    except (MissingBinaryError, KueueStartError) as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def helm() -> Path:
    HELM.require("helm is not available")
    try:
        return resolve_helm(build=False)
    except MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def devcluster(request: pytest.FixtureRequest) -> Iterator[DevCluster]:
    reuse = os.environ.get(DIR_ENV)
    if reuse:
        state = lifecycle.status(Path(reuse))
        if not state.up or state.cluster is None:
            pytest.fail(
                f"${DIR_ENV}={reuse} but no devcluster is up there: start it with "
                f"`mlops devcluster up --dir {reuse}`, or unset ${DIR_ENV} to let the tests "
                f"start their own",
                pytrace=False,
            )
        yield state.cluster
        return
    BINARIES.require("the devcluster cannot start")
    root = Path(tempfile.mkdtemp(prefix="mlops-devcluster-test-"))
    try:
        cluster = lifecycle.up(root, use_free_ports=True, timeout=START_TIMEOUT)
    except (MissingBinaryError, PortInUseError, lifecycle.StartError) as exc:
        lifecycle.down(root)
        pytest.fail(f"the devcluster could not start: {exc}", pytrace=False)
    except BaseException:
        lifecycle.down(root, purge=True)
        raise
    try:
        yield cluster
    finally:
        failed = request.session.testsfailed > 0
        lifecycle.down(root, purge=not failed)
        if failed:
            print(f"\ndevcluster state and logs kept for inspection in {root}")


@pytest.fixture(scope="session")
def kube_api(devcluster: DevCluster) -> Iterator[ApiClient]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(devcluster.kubeconfig))
    try:
        yield client
    finally:
        client.close()


def _test_label(request: pytest.FixtureRequest) -> str:
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())
    return name.strip("-")[:63].strip("-") or "test"


@pytest.fixture
def namespace(devcluster: DevCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    kube = devcluster.kube()
    name = f"test-{secrets.token_hex(4)}"
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"mlops.dev/test": _test_label(request)}},
    }
    kube.create("/api/v1/namespaces", body)
    deadline = time.monotonic() + 30
    while True:
        try:
            kube.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
            break
        except ApiError as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield name
    finally:
        try:
            kube.delete(f"/api/v1/namespaces/{name}", {"propagationPolicy": "Background"})
        except ApiError as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def s3_prefix(devcluster: DevCluster) -> Iterator[str]:
    import boto3

    prefix = f"test-{secrets.token_hex(6)}"
    yield f"s3://{devcluster.bucket}/{prefix}"
    s3 = boto3.client(
        "s3",
        endpoint_url=devcluster.s3_endpoint,
        aws_access_key_id=devcluster.s3_access_key,
        aws_secret_access_key=devcluster.s3_secret_key,
        region_name="us-east-1",
    )
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=devcluster.bucket, Prefix=f"{prefix}/"):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=devcluster.bucket, Delete={"Objects": keys})
