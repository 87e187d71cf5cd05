"""Queue admission: 200 runs queued on a small Kueue quota, through the operator (TrainingJobs)
against plain suspended Jobs carrying the same requests, in the same run on the same cluster.

    python benchmarks/queue_admission.py [--count 200] [--cycles 40] [--dir DEVCLUSTER]

Uses the devcluster in ``--dir`` / ``$MLOPS_DEVCLUSTER_DIR`` if one is up, else starts one in
a temporary folder (and stops it after); starts Kueue's manager on it. Each side gets its own
namespace (a ResourceQuota of zero pods, so admitted Jobs make no pods and nothing trains: the
figure is the queue's own latency), its own ClusterQueue with a quota of one run (1 cpu) and a
LocalQueue. ``count`` runs are queued; then, ``cycles`` times, the admitted run's Workload is
deactivated (Kueue's own way to take quota back) and the time until the next run's Job is
unsuspended is measured from a watch. A run is deactivated only once the Job controller has
started its Job (``status.startTime``), as a preempted or finished run always has been. At each
cycle two samples: the Jobs unsuspended at the moment the next one is (more than one is over
quota), and the CPU of the Workloads holding quota (above the quota is over quota).

Why the run must have started: deactivated in the very instant Kueue unsuspends its Job, a
Workload can be evicted while Kueue's informer cache still shows that Job suspended; Kueue's
stop step then skips the suspension, releases the quota and admits the next run, and suspends
the first Job only on its next look. Measured so (60 runs, 30 cycles a side, load average 9 to
15 on 2 cores), 4 of 120 samples saw two Jobs unsuspended at once, 2 on each side, each pair the
Job just deactivated and the next one, while the Workloads never held more than the quota.
That is Kueue's ordering under a deactivation no real preemption makes, not the operator's:
the operator never changes a Job's suspension.

Work lost per preemption is measured on the trainer itself (no cluster): runs stopped at random
steps, as SIGTERM stops them, resumed from their checkpoint; steps trained twice divided by the
steps of an epoch.

Reported: median and p99 of quota-freed → next Job unsuspended on both sides, their ratio
(operator / plain, target ≤ 1.2), over-quota samples (target 0), work lost per preemption (target
≤ 2% of an epoch). The last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_devcluster import lifecycle
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kueue import start_kueue
from mlops_devcluster.layout import state_dir
from mlops_devcluster.local_operator import OperatorProcess, install, service_account_kubeconfig
from mlops_operator.builders.names import LABEL_KUEUE_QUEUE
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.reconcile.queue_status import KUEUE_API_VERSION, WORKLOAD_JOB_UID_LABEL
from reconcile_throughput import equivalent_job, fresh_namespace, training_job

MAX_RATIO = 1.2
MAX_LOST_FRACTION = 0.02
QUEUE = "bench"


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary from the medians of both sides, the over-quota samples and the work lost
    per preemption."""
    ratio = figures["operator_median_s"] / figures["plain_median_s"]
    met = (
        ratio <= MAX_RATIO
        and figures["over_quota_samples"] == 0
        and figures["lost_epoch_fraction_median"] <= MAX_LOST_FRACTION
    )
    return {
        "benchmark": "queue_admission",
        "figures": {
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
            "ratio": round(ratio, 3),
        },
        "targets": {
            "ratio": f"<= {MAX_RATIO}",
            "over_quota_samples": "== 0",
            "lost_epoch_fraction_median": f"<= {MAX_LOST_FRACTION}",
        },
        "met": met,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _quotas(admin: Kube, cluster: DevCluster, namespace: str, suffix: str) -> None:
    flavor = f"bench-{suffix}"
    documents = [
        {"apiVersion": KUEUE_API_VERSION, "kind": "ResourceFlavor", "metadata": {"name": flavor}},
        {
            "apiVersion": KUEUE_API_VERSION,
            "kind": "ClusterQueue",
            "metadata": {"name": flavor},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory"],
                        "flavors": [
                            {
                                "name": flavor,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "1"},
                                    {"name": "memory", "nominalQuota": "64Gi"},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": KUEUE_API_VERSION,
            "kind": "LocalQueue",
            "metadata": {"name": QUEUE, "namespace": namespace},
            "spec": {"clusterQueue": flavor},
        },
    ]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))


def _admitted_cpu_millis(workloads: list[dict[str, Any]]) -> int:
    """CPU held by Workloads with quota reserved that are neither evicted nor finished."""
    total = 0
    for workload in workloads:
        status = workload.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("QuotaReserved") != "True" or "True" in (
            conditions.get("Finished"),
            conditions.get("Evicted"),
        ):
            continue
        for pod_set in (status.get("admission") or {}).get("podSetAssignments") or []:
            cpu = str((pod_set.get("resourceUsage") or {}).get("cpu", "0"))
            total += int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
    return total


class JobWatch:
    """Which Jobs of a namespace are unsuspended, kept current from a watch."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        from kubernetes import client, watch

        self.api = client.BatchV1Api(load_api_client(str(kubeconfig)))
        self.namespace = namespace
        self.watch = watch.Watch()
        listing = self.api.list_namespaced_job(namespace)
        self.version = listing.metadata.resource_version
        self.running = {j.metadata.name for j in listing.items if not j.spec.suspend}
        self.started = {
            j.metadata.name for j in listing.items if not j.spec.suspend and j.status.start_time
        }
        self.uids = {j.metadata.name: j.metadata.uid for j in listing.items}

    def next_unsuspended(self, exclude: set[str], *, timeout: float) -> str:
        """Block until a Job not in ``exclude`` is unsuspended; its name."""
        return self._until(lambda: sorted(self.running - exclude), timeout=timeout)

    def wait_started(self, name: str, *, timeout: float) -> None:
        """Block until the Job controller has started Job ``name`` (its ``startTime``)."""
        self._until(lambda: [name] if name in self.started else [], timeout=timeout)

    def _until(self, found: Callable[[], list[str]], *, timeout: float) -> str:
        if names := found():
            return names[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.watch.stream(
                self.api.list_namespaced_job,
                self.namespace,
                resource_version=self.version,
                timeout_seconds=max(1, int(deadline - time.monotonic())),
            ):
                job = event["object"]
                self.version = job.metadata.resource_version
                name = job.metadata.name
                self.uids[name] = job.metadata.uid
                if event["type"] != "DELETED" and not job.spec.suspend:
                    self.running.add(name)
                    if job.status.start_time:
                        self.started.add(name)
                else:
                    self.running.discard(name)
                    self.started.discard(name)
                if names := found():
                    self.watch.stop()
                    return names[0]
        raise TimeoutError(f"nothing awaited in Jobs of {self.namespace} within {timeout:.0f}s")


def _measure(
    admin: Kube, kubeconfig: Path, namespace: str, *, count: int, cycles: int
) -> tuple[list[float], int]:
    """(seconds from quota freed to the next Job unsuspended, per cycle; over-quota samples)."""
    deadline = time.monotonic() + 600
    while len(admin.list("batch/v1", "Job", namespace)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} Jobs in {namespace}")
        time.sleep(0.5)
    jobs = JobWatch(kubeconfig, namespace)
    done: set[str] = set()
    current = jobs.next_unsuspended(done, timeout=120)
    latencies, over_quota = [], 0
    for _ in range(cycles):
        # a run is preempted or finishes once it has started, never in the instant Kueue
        # unsuspends its Job: Kueue's own cache must have seen that unsuspension, or it frees
        # the quota before it stops the Job (see the module's docstring)
        jobs.wait_started(current, timeout=120)
        uid = jobs.uids[current]
        (workload,) = admin.list(
            KUEUE_API_VERSION,
            "Workload",
            namespace,
            label_selector=f"{WORKLOAD_JOB_UID_LABEL}={uid}",
        )
        done.add(current)
        started = time.perf_counter()
        admin.merge_patch(
            KUEUE_API_VERSION,
            "Workload",
            workload["metadata"]["name"],
            namespace,
            {"spec": {"active": False}},
        )
        current = jobs.next_unsuspended(done, timeout=120)
        latencies.append(time.perf_counter() - started)
        # the watch delivers changes in order: every Job suspended before this one was
        # unsuspended is known, so this is the exact set of running Jobs at that moment
        if len(jobs.running) > 1:
            over_quota += 1
            print(f"over quota: Jobs {sorted(jobs.running)} unsuspended at once", file=sys.stderr)
        if _admitted_cpu_millis(admin.list(KUEUE_API_VERSION, "Workload", namespace)) > 1000:
            over_quota += 1
            print(f"over quota: Workloads of {namespace} hold more than 1 cpu", file=sys.stderr)
    return latencies, over_quota


def _plain(
    admin: Kube, cluster: DevCluster, kubeconfig: Path, *, count: int, cycles: int
) -> tuple[list[float], int]:
    namespace = fresh_namespace(admin, "bench-queue-plain")
    _quotas(admin, cluster, namespace, namespace)
    for i in range(count):
        job = equivalent_job(f"run-{i}", namespace)
        job["metadata"]["labels"][LABEL_KUEUE_QUEUE] = QUEUE
        job["spec"]["suspend"] = True
        admin.create(job)
    return _measure(admin, kubeconfig, namespace, count=count, cycles=cycles)


def _operator(
    admin: Kube, cluster: DevCluster, kubeconfig: Path, *, count: int, cycles: int
) -> tuple[list[float], int]:
    namespace = fresh_namespace(admin, "bench-queue-operator")
    _quotas(admin, cluster, namespace, namespace)
    for i in range(count):
        body = training_job(f"run-{i}")
        body["metadata"]["namespace"] = namespace
        body["spec"]["queue"] = QUEUE
        admin.create(body)
    return _measure(admin, kubeconfig, namespace, count=count, cycles=cycles)


def work_lost_per_preemption(stops: int, *, seed: int = 5) -> list[float]:
    """Steps trained twice / steps per epoch, for runs stopped at ``stops`` random steps."""
    import torch

    from mlops_core.storage import LocalStore
    from mlops_core.training_spec import TrainerConfig
    from mlops_trainer.dataset import load_splits
    from mlops_trainer.distributed import DistributedContext
    from mlops_trainer.preparation import prepare
    from mlops_trainer.reporting import Reporters
    from mlops_trainer.stop_request import Preempted, StopRequest
    from mlops_trainer.training_loop import EpochLoop

    class CountingStop(StopRequest):
        def __init__(self, at: int | None) -> None:
            super().__init__()
            self.at, self.steps = at, 0

        def requested(self) -> bool:
            self.steps += 1
            return self.at is not None and self.steps >= self.at

    data_dir = Path(__file__).resolve().parents[1] / "examples" / "data" / "breast-cancer"
    config = TrainerConfig.model_validate(
        {
            "dataset": {
                "train": str(data_dir / "train.csv"),
                "validation": str(data_dir / "validation.csv"),
                "labelColumn": "diagnosis",
            },
            "model": {"architecture": "mlp", "hiddenSizes": [16]},
            "training": {"epochs": 2, "batchSize": 16, "seed": 3},
            "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/unused"},
        }
    )
    data = prepare(config, load_splits(config.dataset, seed=3))
    torch.set_num_threads(1)

    def loop(store: LocalStore, stop: StopRequest) -> EpochLoop:
        return EpochLoop(
            config,
            data,
            ctx=DistributedContext(rank=0, world_size=1),
            device=torch.device("cpu"),
            reporters=Reporters([]),
            checkpoints=store,
            stop=stop,
        )

    per_epoch = -(-len(data.train) // 16)
    fractions = []
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(stops):
            store = LocalStore(Path(tmp) / str(i))
            first = CountingStop(rng.randint(1, 2 * per_epoch - 1))
            with contextlib.suppress(Preempted):
                loop(store, first).run()
            second = CountingStop(None)
            loop(store, second).run()
            twice = first.steps + second.steps - 2 * per_epoch
            fractions.append(twice / per_epoch)
    return fractions


def _remove(admin: Kube, cluster: DevCluster, prefix: str) -> None:
    """Delete one side's namespaces and queues, and wait until Kueue forgot its Workloads, so
    the other side runs on a Kueue as empty as the first one did."""
    for namespace in admin.list("v1", "Namespace"):
        name = namespace["metadata"]["name"]
        if name.startswith(prefix):
            cluster.kubectl(
                "delete", "namespace", name, "--wait=true", "--timeout=120s", check=False
            )
            cluster.kubectl(
                "delete", "clusterqueue,resourceflavor", name, "--wait=false", check=False
            )
    time.sleep(2)


def run(cluster: DevCluster, *, count: int, cycles: int, work: Path) -> dict[str, Any]:
    start_kueue(cluster)
    admin = Kube(load_api_client(str(cluster.kubeconfig)), field_manager="benchmark")
    install(admin)
    kubeconfig = service_account_kubeconfig(
        admin, admin_kubeconfig=Path(cluster.kubeconfig), path=work / "kubeconfig"
    )
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / "operator.log", env=cluster.s3_env()
    ).start()
    admin_kubeconfig = Path(cluster.kubeconfig)
    try:
        plain, plain_over = _plain(admin, cluster, admin_kubeconfig, count=count, cycles=cycles)
        _remove(admin, cluster, "bench-queue-plain-")
        through, operator_over = _operator(
            admin, cluster, admin_kubeconfig, count=count, cycles=cycles
        )
    finally:
        operator.stop()
        for prefix in ("bench-queue-plain-", "bench-queue-operator-"):
            _remove(admin, cluster, prefix)
    lost = work_lost_per_preemption(5)
    figures: dict[str, float] = {
        "count": count,
        "cycles": cycles,
        "plain_median_s": statistics.median(plain),
        "plain_p99_s": percentile(plain, 0.99),
        "plain_spread_s": max(plain) - min(plain),
        "operator_median_s": statistics.median(through),
        "operator_p99_s": percentile(through, 0.99),
        "operator_spread_s": max(through) - min(through),
        "over_quota_samples": plain_over + operator_over,
        "lost_epoch_fraction_median": statistics.median(lost),
        "lost_epoch_fraction_max": max(lost),
    }
    print(
        f"quota freed → next Job unsuspended, {count} queued, {cycles} cycles:\n"
        f"  plain suspended Jobs: median {figures['plain_median_s'] * 1000:.1f} ms, "
        f"p99 {figures['plain_p99_s'] * 1000:.1f} ms\n"
        f"  TrainingJobs (operator): median {figures['operator_median_s'] * 1000:.1f} ms, "
        f"p99 {figures['operator_p99_s'] * 1000:.1f} ms\n"
        f"  over-quota samples: {figures['over_quota_samples']:.0f}; work lost per "
        f"preemption: median {figures['lost_epoch_fraction_median']:.4f} of an epoch"
    )
    return summary(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--dir", default=None, help="devcluster state folder")
    args = parser.parse_args()
    root = state_dir(args.dir)
    state = lifecycle.status(root)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        work = Path(tmp)
        if state.up and state.cluster is not None:
            result = run(state.cluster, count=args.count, cycles=args.cycles, work=work)
        else:
            cluster_root = work / "devcluster"
            cluster = lifecycle.up(cluster_root, use_free_ports=True)
            try:
                result = run(cluster, count=args.count, cycles=args.cycles, work=work)
            finally:
                lifecycle.down(cluster_root, purge=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
