"""The local cluster a cluster benchmark runs on, a work folder beside it, and what every
operator benchmark sets up in it.

``--dir`` names a devcluster state folder (default: ``mlops devcluster``'s own): when a
devcluster is up there the benchmark uses it and leaves it running; otherwise it starts one on
free ports in the work folder and removes it afterwards. ``operator_access`` installs the
operator's CRDs and RBAC and gives the kubeconfig of its ServiceAccount; ``no_pod_namespace``
makes a namespace where no pod may start (the benchmarks that time the operator alone).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_core.storage import s3_client
from mlops_devcluster import lifecycle
from mlops_devcluster.agent.addresses import SERVICES
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.layout import state_dir
from mlops_devcluster.local_operator import install, service_account_kubeconfig
from mlops_operator.kube import Kube, load_api_client


def add_cluster_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", default=None, help="devcluster state folder")


@contextmanager
def bench_cluster(
    folder: str | None, *, services: int = SERVICES
) -> Iterator[tuple[DevCluster, Path]]:
    """The devcluster up in ``folder`` (else a fresh one, torn down after, whose ClusterIP range
    holds ``services`` Services) and a work folder."""
    state = lifecycle.status(state_dir(folder))
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        work = Path(tmp)
        if state.up and state.cluster is not None:
            yield state.cluster, work
            return
        cluster_root = work / "devcluster"
        cluster = lifecycle.up(cluster_root, use_free_ports=True, services=services)
        try:
            yield cluster, work
        finally:
            lifecycle.down(cluster_root, purge=True)


def operator_access(cluster: DevCluster, work: Path) -> tuple[Kube, Path]:
    """An admin client of ``cluster`` with the operator's CRDs and RBAC installed, and the
    kubeconfig of the operator's ServiceAccount (written into ``work``), which the benchmark's
    operator runs as."""
    admin = Kube(load_api_client(str(cluster.kubeconfig)), field_manager="benchmark")
    install(admin)
    kubeconfig = service_account_kubeconfig(
        admin, admin_kubeconfig=Path(cluster.kubeconfig), path=work / "kubeconfig"
    )
    return admin, kubeconfig


def no_pod_namespace(admin: Kube, name: str) -> str:
    """Create namespace ``name`` with a ResourceQuota of zero pods (Jobs there make no pods, so
    nothing trains or serves) and return its name."""
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    admin.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "no-pods", "namespace": name},
            "spec": {"hard": {"pods": "0"}},
        }
    )
    return name


def cluster_s3(cluster: DevCluster) -> Any:
    """A client of the cluster's MinIO, as the benchmark's administrator."""
    return s3_client(
        endpoint=cluster.s3_endpoint,
        access_key=cluster.s3_access_key,
        secret_key=cluster.s3_secret_key,
    )
