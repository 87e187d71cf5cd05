"""Reconcile throughput: 100 TrainingJobs → 100 Jobs through the operator, against creating
the same 100 Jobs directly through the API, in the same run on the same cluster.

    python benchmarks/reconcile_throughput.py [--count 100] [--repeats 3] [--dir DEVCLUSTER]

Uses the devcluster in ``--dir`` / ``$MLOPS_DEVCLUSTER_DIR`` if one is up, else starts one in
a temporary folder (and stops it after). The operator runs as its ServiceAccount, exactly as in
the end-to-end tests. Each namespace gets a ResourceQuota of zero pods, so the Job controller
creates no pods and nothing trains: the figure is the operator's own cost of turning a
TrainingJob into its children. Reported: the median over repeats of the time until all Jobs
exist, and the ratio operator / direct (target ≤ 3). The last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from harness.cluster import add_cluster_option, bench_cluster, no_pod_namespace, operator_access
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.training_job import build_job, run_plan
from mlops_operator.kube import Kube
from mlops_operator.settings import OperatorSettings

MAX_RATIO = 3.0


def training_job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "modelName": "bench",
            "dataset": {"train": "s3://mlops/datasets/breast-cancer/train.csv"},
            "model": {"architecture": "logistic_regression"},
            "training": {"epochs": 1},
        },
    }


def equivalent_job(name: str, namespace: str) -> dict[str, Any]:
    """The Job the operator would build for ``training_job(name)``, without an owner."""
    body = training_job(name)
    body["metadata"].update(namespace=namespace, uid=secrets.token_hex(16))
    tj = TrainingJob.from_body(body)
    settings = OperatorSettings()
    job = build_job(tj, run_plan(tj, version="1.0.0", settings=settings), settings)
    del job["metadata"]["ownerReferences"]
    job["spec"]["template"]["spec"]["serviceAccountName"] = "default"
    return job


def fresh_namespace(admin: Kube, prefix: str) -> str:
    return no_pod_namespace(admin, f"{prefix}-{secrets.token_hex(3)}")


def wait_for_jobs(admin: Kube, namespace: str, count: int, *, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while len(admin.list("batch/v1", "Job", namespace)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} Jobs in {namespace} after {timeout}s")
        time.sleep(0.05)


def settle(admin: Kube, namespace: str, count: int, *, timeout: float = 120) -> None:
    """Wait until the operator has recorded every run's start, then a little longer, so one
    measurement's tail does not slow the next one down."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = [
            tj
            for tj in admin.list(API_VERSION, "TrainingJob", namespace)
            if (tj.get("status") or {}).get("version")
        ]
        if len(started) >= count:
            break
        time.sleep(0.2)
    time.sleep(2)


def direct(admin: Kube, count: int) -> float:
    namespace = fresh_namespace(admin, "bench-direct")
    jobs = [equivalent_job(f"run-{i}", namespace) for i in range(count)]
    started = time.perf_counter()
    for job in jobs:
        admin.create(job)
    wait_for_jobs(admin, namespace, count)
    elapsed = time.perf_counter() - started
    time.sleep(2)
    return elapsed


def through_operator(admin: Kube, count: int) -> tuple[float, float]:
    """(seconds until all Jobs exist, seconds the TrainingJob creates alone took)."""
    namespace = fresh_namespace(admin, "bench-operator")
    bodies = [training_job(f"run-{i}") for i in range(count)]
    for body in bodies:
        body["metadata"]["namespace"] = namespace
    started = time.perf_counter()
    for body in bodies:
        admin.create(body)
    applied = time.perf_counter() - started
    wait_for_jobs(admin, namespace, count)
    elapsed = time.perf_counter() - started
    settle(admin, namespace, count)
    return elapsed, applied


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary from the medians: all Jobs created directly, and through the operator."""
    ratio = figures["operator_median_s"] / figures["direct_median_s"]
    return {
        "benchmark": "reconcile_throughput",
        "figures": {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
            "ratio": round(ratio, 3),
        },
        "targets": {"ratio": f"<= {MAX_RATIO}"},
        "met": ratio <= MAX_RATIO,
    }


def run(cluster: DevCluster, *, count: int, repeats: int, work: Path) -> dict[str, Any]:
    admin, kubeconfig = operator_access(cluster, work)
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / "operator.log", env=cluster.s3_env()
    ).start()
    try:
        direct_times, operator_times, apply_times = [], [], []
        for attempt in range(repeats):
            direct_times.append(direct(admin, count))
            elapsed, applied = through_operator(admin, count)
            operator_times.append(elapsed)
            apply_times.append(applied)
            print(
                f"run {attempt + 1}: direct {direct_times[-1]:.2f}s, "
                f"operator {elapsed:.2f}s (of which creating the TrainingJobs {applied:.2f}s)",
                file=sys.stderr,
            )
    finally:
        operator.stop()
        for namespace in admin.list("v1", "Namespace"):
            if namespace["metadata"]["name"].startswith(("bench-direct-", "bench-operator-")):
                admin.delete("v1", "Namespace", namespace["metadata"]["name"])
    d, o = statistics.median(direct_times), statistics.median(operator_times)
    a = statistics.median(apply_times)
    print(f"{count} Jobs created directly through the API: median {d:.2f}s")
    print(f"{count} TrainingJobs → {count} Jobs through the operator: median {o:.2f}s")
    print(f"  of which creating the {count} TrainingJobs themselves: median {a:.2f}s")
    print(f"ratio operator/direct: {o / d:.2f} (target ≤ 3), {repeats} repeats")
    return summary(
        {
            "count": count,
            "repeats": repeats,
            "direct_median_s": d,
            "operator_median_s": o,
            "trainingjob_creates_median_s": a,
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    add_cluster_option(parser)
    args = parser.parse_args()
    with bench_cluster(args.dir) as (cluster, work):
        result = run(cluster, count=args.count, repeats=args.repeats, work=work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
