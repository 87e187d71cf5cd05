"""The devcluster as a whole: idempotent ``up``, status, env, RBAC, MinIO and its Secret."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid

import pytest

from mlops_devcluster import lifecycle
from mlops_devcluster.cluster import BUCKET, S3_NAMESPACE, S3_SECRET, DevCluster

pytestmark = pytest.mark.integration


def cli(cluster: DevCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_devcluster", "--dir", str(cluster.root), *args],
        capture_output=True,
        text=True,
        check=check,
    )


def test_up_again_is_a_no_op(devcluster: DevCluster) -> None:
    messages: list[str] = []
    again = lifecycle.up(devcluster.root, log=messages.append)
    assert again.server == devcluster.server
    assert any("already up" in m for m in messages)


def test_status_and_env(devcluster: DevCluster) -> None:
    status = cli(devcluster, "status")
    assert status.stdout.strip().endswith("up")
    for component in (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "node-agent",
        "minio",
    ):
        assert f"{component}" in status.stdout
    env = cli(devcluster, "env").stdout
    shell = f"{env}\nkubectl version -o json\n"
    result = subprocess.run(
        ["bash", "-c", shell],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
    )
    version = json.loads(result.stdout)
    assert version["serverVersion"]["minor"] == "36"
    assert f"export KUBECONFIG={devcluster.kubeconfig}" in env


def test_rbac_denies_a_service_account_without_roles(
    devcluster: DevCluster, namespace: str
) -> None:
    token = devcluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()
    as_service_account = [
        str(devcluster.config.binaries.kubectl),
        "--kubeconfig=/dev/null",
        f"--server={devcluster.server}",
        f"--certificate-authority={devcluster.layout.pki / 'ca.crt'}",
        f"--token={token}",
    ]
    denied = subprocess.run(
        [*as_service_account, "get", "secrets", "-n", namespace],
        capture_output=True,
        text=True,
        check=False,
    )
    allowed = devcluster.kubectl("auth", "can-i", "get", "secrets", "-n", namespace)
    assert allowed.stdout.strip() == "yes"
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert f"system:serviceaccount:{namespace}:default" in denied.stderr


def test_minio_serves_the_bucket_named_in_the_secret(
    devcluster: DevCluster, s3_prefix: str
) -> None:
    import boto3

    secret = json.loads(
        devcluster.kubectl("get", "secret", "-n", S3_NAMESPACE, S3_SECRET, "-o", "json").stdout
    )
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert values["AWS_ENDPOINT_URL"] == devcluster.s3_endpoint
    s3 = boto3.client(
        "s3",
        endpoint_url=values["AWS_ENDPOINT_URL"],
        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    assert s3_prefix.startswith(f"s3://{BUCKET}/test-")
    key = f"{s3_prefix.removeprefix(f's3://{BUCKET}/')}/{uuid.uuid4().hex}.txt"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"stored in minio")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"stored in minio"


def test_logs_of_an_unknown_pod_say_what_to_check(devcluster: DevCluster) -> None:
    result = cli(devcluster, "logs", "-n", "nowhere", "ghost", check=False)
    assert result.returncode == 1
    assert "no logs for pod nowhere/ghost" in result.stderr
