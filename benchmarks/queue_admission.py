"""Queue admission: 200 runs queued on a small Kueue quota, through the operator (TrainingJobs)
against plain suspended Jobs carrying the same requests, in the same run on the same cluster.

    python benchmarks/queue_admission.py [--count 200] [--cycles 60] [--pause 2] [--dir DEVCLUSTER]

Uses the devcluster in ``--dir`` / ``$MLOPS_DEVCLUSTER_DIR`` if one is up, else starts one in
a temporary folder (and stops it after); starts Kueue's manager on it. Each side gets its own
namespace (a ResourceQuota of zero pods, so admitted Jobs make no pods and nothing trains: the
figure is the queue's own latency), its own ClusterQueue with a quota of one run (1 cpu) and a
LocalQueue. ``count`` runs are queued; then, ``cycles`` times and ``--pause`` seconds apart,
the admitted run ends the way a run ends for its user, it is gone (the plain side deletes its
Job, the operator side its TrainingJob; the Job and its Workload follow by garbage collection),
and the time from that request to the next run's Job seen unsuspended is measured (on a watch
read by its own thread; each cycle also waits for the ended run's Workload to be seen deleted,
being deleted or finished). Two over-quota samples per cycle, when the next Job is
unsuspended: the Jobs running at that moment (more than one is over quota), and the CPU of the
Workloads holding quota (``QuotaReserved``, evicted or not, neither finished nor being deleted)
above the quota.

What the figure is made of: Kueue v0.17 puts the runs it could not admit back into its queue in
batches, at most a second after quota is freed, so the median is about a second on both sides;
the operator's share is the difference. The time is taken from the request that ends the run,
not from the Workload's deletion as the watch shows it: that event can arrive after Kueue has
already freed the quota and admitted the next run, which made one side look faster than Kueue.

Why runs are ended rather than their Workloads deactivated: Kueue counts a deactivated
Workload's quota as free at once, before its Job is suspended, so deactivation showed the
deactivated Job still unsuspended beside the next one on both sides alike (Kueue's
deactivation semantics, not what a user's runs see).

Work lost per preemption is measured on the trainer itself (no cluster): runs stopped at random
steps, as SIGTERM stops them, resumed from their checkpoint; steps trained twice divided by the
steps of an epoch.

Reported: median, p99 and spread of run ended → next Job unsuspended on both sides, their ratio
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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cluster import add_cluster_option, bench_cluster, operator_access
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kueue import start_kueue
from mlops_devcluster.local_operator import OperatorProcess
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import LABEL_KUEUE_QUEUE, LABEL_TRAINING_JOB
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.reconcile.queue_status import KUEUE_API_VERSION, WORKLOAD_JOB_UID_LABEL
from reconcile_throughput import equivalent_job, fresh_namespace, training_job

MAX_RATIO = 1.2
MAX_LOST_FRACTION = 0.02
QUEUE = "bench"
#: seconds between one run's end and the next: runs end seconds apart, not milliseconds, and
#: the operator's follow-up of an admission (the runs at the head of the queue looked at again a
#: second later, for their positions) belongs to that admission, not to the next one
PAUSE_S = 2.0


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
    """CPU held by Workloads with quota reserved, evicted ones included (Kueue keeps an evicted
    Workload's reservation until its Job has stopped); finished ones and ones being deleted
    hold none."""
    total = 0
    for workload in workloads:
        status = workload.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("QuotaReserved") != "True" or conditions.get("Finished") == "True":
            continue
        if (workload.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for pod_set in (status.get("admission") or {}).get("podSetAssignments") or []:
            cpu = str((pod_set.get("resourceUsage") or {}).get("cpu", "0"))
            total += int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
    return total


def _releases_quota(event_type: str, workload: dict[str, Any]) -> bool:
    """Whether a Workload event shows it holding no quota any more: deleted, being deleted, or
    finished."""
    if event_type == "DELETED" or (workload.get("metadata") or {}).get("deletionTimestamp"):
        return True
    conditions = (workload.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Finished" and c.get("status") == "True" for c in conditions)


class QueueEvents:
    """When each Job of a namespace was first seen unsuspended, and when each Workload was first
    seen holding no quota, recorded by two watch threads as the events arrive (both times taken
    the same way, so their difference is Kueue's and the operator's, not this reader's)."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        from kubernetes import client

        api_client = load_api_client(str(kubeconfig))
        self._jobs = client.BatchV1Api(api_client)
        self._objects = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.changed = threading.Condition()
        #: Job name → (arrival time of its unsuspension, the Jobs running at that moment)
        self.unsuspended: dict[str, tuple[float, frozenset[str]]] = {}
        self.job_uids: dict[str, str] = {}
        #: Job uid (Kueue's label on the Workload) → arrival time of its quota's release
        self.released: dict[str, float] = {}
        self._running: set[str] = set()
        self._stop = threading.Event()
        listing = self._jobs.list_namespaced_job(namespace)
        for job in listing.items:
            self.job_uids[job.metadata.name] = job.metadata.uid
            if not job.spec.suspend:
                self._running.add(job.metadata.name)
                self.unsuspended[job.metadata.name] = (time.monotonic(), frozenset(self._running))
        self._threads = [
            threading.Thread(
                target=self._watch_jobs, args=(listing.metadata.resource_version,), daemon=True
            ),
            threading.Thread(target=self._watch_workloads, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch_jobs(self, version: str) -> None:
        from kubernetes import watch

        while not self._stop.is_set():
            for event in watch.Watch().stream(
                self._jobs.list_namespaced_job,
                self.namespace,
                resource_version=version,
                timeout_seconds=2,
            ):
                now, job = time.monotonic(), event["object"]
                version, name = job.metadata.resource_version, job.metadata.name
                with self.changed:
                    self.job_uids[name] = job.metadata.uid
                    gone = event["type"] == "DELETED" or job.metadata.deletion_timestamp
                    if gone or job.spec.suspend:
                        self._running.discard(name)
                    else:
                        self._running.add(name)
                        if name not in self.unsuspended:
                            self.unsuspended[name] = (now, frozenset(self._running))
                    self.changed.notify_all()

    def _watch_workloads(self) -> None:
        from kubernetes import watch

        group, version = KUEUE_API_VERSION.split("/")
        listing = self._objects.list_namespaced_custom_object(
            group, version, self.namespace, "workloads"
        )
        resource_version = listing["metadata"]["resourceVersion"]
        for workload in listing["items"]:
            self._seen_workload("ADDED", workload, time.monotonic())
        while not self._stop.is_set():
            for event in watch.Watch().stream(
                self._objects.list_namespaced_custom_object,
                group,
                version,
                self.namespace,
                "workloads",
                resource_version=resource_version,
                timeout_seconds=2,
            ):
                resource_version = event["object"]["metadata"]["resourceVersion"]
                self._seen_workload(event["type"], event["object"], time.monotonic())

    def _seen_workload(self, event_type: str, workload: dict[str, Any], now: float) -> None:
        if not _releases_quota(event_type, workload):
            return
        uid = ((workload.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_JOB_UID_LABEL)
        with self.changed:
            if uid and uid not in self.released:
                self.released[uid] = now
                self.changed.notify_all()

    def wait(self, what: str, check: Callable[[], Any], *, timeout: float) -> Any:
        with self.changed:
            value = self.changed.wait_for(check, timeout=timeout)
        if not value:
            raise TimeoutError(f"{self.namespace}: {what} not seen in {timeout:.0f}s")
        return value


def _measure(
    admin: Kube,
    kubeconfig: Path,
    namespace: str,
    finish: Callable[[str], None],
    *,
    count: int,
    cycles: int,
    pause: float,
) -> tuple[list[float], int]:
    """(seconds from the request that ends a run to the next run's Job unsuspended, per cycle;
    over-quota samples). Each cycle ends the admitted run the way a run ends for users (it is
    gone: ``finish`` deletes it), so nothing of it runs once its quota is free; cycles start
    ``pause`` seconds apart."""
    deadline = time.monotonic() + 600
    while len(admin.list("batch/v1", "Job", namespace)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} Jobs in {namespace}")
        time.sleep(0.5)
    events = QueueEvents(kubeconfig, namespace)
    try:
        done: set[str] = set()

        def fresh() -> str | None:
            waiting = sorted(set(events.unsuspended) - done)
            return waiting[0] if waiting else None

        current = events.wait("a Job unsuspended", fresh, timeout=120)
        latencies, over_quota = [], 0
        for _ in range(cycles):
            time.sleep(pause)
            uid = events.job_uids[current]
            done.add(current)
            ended = time.monotonic()
            finish(current)
            events.wait(
                "the finished run's quota released",
                lambda uid=uid: events.released.get(uid),
                timeout=120,
            )
            current = events.wait("the next Job unsuspended", fresh, timeout=120)
            unsuspended_at, running = events.unsuspended[current]
            latencies.append(unsuspended_at - ended)
            # the watch delivers a namespace's changes in order: the Jobs running when this
            # one was unsuspended are exactly those seen running before it
            if len(running) > 1:
                over_quota += 1
                print(f"over quota: Jobs {sorted(running)} unsuspended at once", file=sys.stderr)
            if _admitted_cpu_millis(admin.list(KUEUE_API_VERSION, "Workload", namespace)) > 1000:
                over_quota += 1
                print(f"over quota: Workloads of {namespace} hold over 1 cpu", file=sys.stderr)
    finally:
        events.stop()
    return latencies, over_quota


def _plain(
    admin: Kube, cluster: DevCluster, kubeconfig: Path, *, count: int, cycles: int, pause: float
) -> tuple[list[float], int]:
    namespace = fresh_namespace(admin, "bench-queue-plain")
    _quotas(admin, cluster, namespace, namespace)
    for i in range(count):
        job = equivalent_job(f"run-{i}", namespace)
        job["metadata"]["labels"][LABEL_KUEUE_QUEUE] = QUEUE
        job["spec"]["suspend"] = True
        admin.create(job)

    def finish(job: str) -> None:
        admin.delete("batch/v1", "Job", job, namespace)

    return _measure(admin, kubeconfig, namespace, finish, count=count, cycles=cycles, pause=pause)


def _operator(
    admin: Kube, cluster: DevCluster, kubeconfig: Path, *, count: int, cycles: int, pause: float
) -> tuple[list[float], int]:
    namespace = fresh_namespace(admin, "bench-queue-operator")
    _quotas(admin, cluster, namespace, namespace)
    for i in range(count):
        body = training_job(f"run-{i}")
        body["metadata"]["namespace"] = namespace
        body["spec"]["queue"] = QUEUE
        admin.create(body)

    def finish(job: str) -> None:
        owner = (admin.get("batch/v1", "Job", job, namespace) or {}).get("metadata") or {}
        run = (owner.get("labels") or {}).get(LABEL_TRAINING_JOB)
        assert run, f"Job {job} carries no {LABEL_TRAINING_JOB} label"
        admin.delete(API_VERSION, "TrainingJob", run, namespace)

    return _measure(admin, kubeconfig, namespace, finish, count=count, cycles=cycles, pause=pause)


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


def run(
    cluster: DevCluster, *, count: int, cycles: int, pause: float, work: Path
) -> dict[str, Any]:
    start_kueue(cluster)
    admin, kubeconfig = operator_access(cluster, work)
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / "operator.log", env=cluster.s3_env()
    ).start()
    admin_kubeconfig = Path(cluster.kubeconfig)
    try:
        plain, plain_over = _plain(
            admin, cluster, admin_kubeconfig, count=count, cycles=cycles, pause=pause
        )
        _remove(admin, cluster, "bench-queue-plain-")
        through, operator_over = _operator(
            admin, cluster, admin_kubeconfig, count=count, cycles=cycles, pause=pause
        )
    finally:
        operator.stop()
        for prefix in ("bench-queue-plain-", "bench-queue-operator-"):
            _remove(admin, cluster, prefix)
    lost = work_lost_per_preemption(5)
    figures: dict[str, float] = {
        "count": count,
        "cycles": cycles,
        "pause_s": pause,
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
        f"run ended → next Job unsuspended, {count} queued, {cycles} cycles "
        f"{pause:g} s apart:\n"
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
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument(
        "--pause",
        type=float,
        default=PAUSE_S,
        help="seconds between one run's end and the next (0: back to back)",
    )
    add_cluster_option(parser)
    args = parser.parse_args()
    with bench_cluster(args.dir) as (cluster, work):
        result = run(cluster, count=args.count, cycles=args.cycles, pause=args.pause, work=work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
