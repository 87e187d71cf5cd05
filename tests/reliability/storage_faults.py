"""Stopping and restarting the devcluster's MinIO, as an outage of the object store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlops_devcluster import components, lifecycle, processes
from mlops_devcluster.cluster import DevCluster


def stop_minio(devcluster: DevCluster) -> None:
    processes.stop(devcluster.layout.pid_file(components.MINIO), grace=0.0)


def start_minio(devcluster: DevCluster) -> None:
    """Start what is not running (MinIO) and wait until the cluster and bucket are usable."""
    lifecycle.up(devcluster.root, timeout=120)


@contextlib.contextmanager
def minio_down(devcluster: DevCluster) -> Iterator[None]:
    stop_minio(devcluster)
    try:
        yield
    finally:
        start_minio(devcluster)
