"""The devcluster's MinIO server: its command line and the bucket and Secret ``up`` creates."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_devcluster.layout import Layout
from mlops_devcluster.ports import HOST, Ports

if TYPE_CHECKING:
    from mlops_devcluster.cluster import ClusterConfig


def minio_command(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binary),
        "server",
        str(layout.minio_data),
        f"--address={HOST}:{ports.minio}",
        f"--console-address={HOST}:{ports.minio_console}",
        "--quiet",
    ]


def minio_env(config: ClusterConfig) -> dict[str, str]:
    return {
        "MINIO_ROOT_USER": config.s3_access_key,
        "MINIO_ROOT_PASSWORD": config.s3_secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        "MINIO_CI_CD": "1",
    }


def build_s3_secret(
    *, namespace: str, name: str, access_key: str, secret_key: str, endpoint: str
) -> dict[str, Any]:
    """Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL (for envFrom)."""
    values = {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_ENDPOINT_URL": endpoint,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "mlops-devcluster"},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
