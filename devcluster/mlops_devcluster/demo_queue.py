"""The demo's queued run: Kueue on the devcluster, the example quotas, and a LocalQueue in the
demo namespace, so the demo's second TrainingJob waits its turn in a queue.

Only when Kueue's manager is already built (``mlops devcluster binaries --kueue``): building it
takes minutes, more than the whole demo; without it the second run starts at once as before.
"""

from __future__ import annotations

from collections.abc import Callable

from mlops_devcluster.binaries import find_kueue
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kueue import start_kueue
from mlops_devcluster.local_operator import repo_root

#: the LocalQueue of examples/queueing/localqueue.yaml
QUEUE = "team"


def start_queue(cluster: DevCluster, namespace: str, *, log: Callable[[str], None]) -> str | None:
    """Start Kueue and apply ``examples/queueing`` (quotas, priorities, the LocalQueue in
    ``namespace``); the queue's name, or None when Kueue is not built here."""
    if find_kueue() is None:
        log("Kueue is not built here (mlops devcluster binaries --kueue): no queued run")
        return None
    start_kueue(cluster, log=log)
    examples = repo_root() / "examples" / "queueing"
    cluster.kubectl("apply", "-f", str(examples / "kueue-setup.yaml"))
    cluster.kubectl("apply", "-n", namespace, "-f", str(examples / "localqueue.yaml"))
    log(f"Kueue running; LocalQueue {QUEUE!r} in {namespace} (ClusterQueue ml-team-a, 2 cpu)")
    return QUEUE
