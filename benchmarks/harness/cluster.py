"""The local cluster a cluster benchmark runs on, and a work folder beside it.

``--dir`` names a devcluster state folder (default: ``mlops devcluster``'s own): when a
devcluster is up there the benchmark uses it and leaves it running; otherwise it starts one on
free ports in the work folder and removes it afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_devcluster import lifecycle
from mlops_devcluster.agent.addresses import SERVICES
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.layout import state_dir


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
