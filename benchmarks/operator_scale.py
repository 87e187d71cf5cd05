"""The operator at 10, 100 and 1,000 of each kind: memory, CPU per object, how fast a spec change
is observed, and how fast a finished training Job becomes a Ready ModelVersion.

    python benchmarks/operator_scale.py [--sizes 10,100,1000] [--samples 50] [--dir DEVCLUSTER]

For each size N, in a namespace of its own and with an operator process of its own (running as
its ServiceAccount, as in the end-to-end tests), the benchmark creates N Models, N
ModelVersions (each with a small artifact it published in MinIO, so each is verified and
becomes Ready), N Deployments (one per Model, strategy direct) and N TrainingJobs (one per
Model). The operator runs every part (registry, training, serving, monitoring). The
namespace has a ResourceQuota of zero pods: no trainer or server pod ever runs, so the
Deployments are **not served** (they wait for server pods) and the figures are the
operator's own cost. A TrainingJob's Job **finishes instantly**: the benchmark publishes the
artifact the trainer would have published at the run's planned location, then marks the Job
complete through its status subresource (``SuccessCriteriaMet`` and ``Complete``), as the Job
controller does when a pod succeeds.

Measured at each size:

- the operator's resident memory once everything has converged (and its peak, sampled every
  0.5 s), against the same process before any object existed (the baseline);
- CPU seconds per object: the operator's CPU time from the first create until all 4N objects
  report ``status.observedGeneration`` equal to their generation (and the Jobs exist),
  divided by 4N; and its CPU per object per minute while nothing changes (timed reconciles);
- catch-up: ``--samples`` spec changes each of Models, ModelVersions and Deployments
  (description, progress deadline), ten at a time, timed from the change until
  ``status.observedGeneration`` reaches the new generation (p50, p99);
- ``--samples`` Jobs marked complete, ten at a time, timed until the run's ModelVersion is
  Ready (p50, p99).

Targets: catch-up p99 ≤ 2 s at the largest size, RSS ≤ 400 MiB, and CPU per object at the
largest size at most 1.5× that at the smallest (not growing with the count). The last line is
the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from harness.cluster import (
    add_cluster_option,
    bench_cluster,
    cluster_s3,
    no_pod_namespace,
    operator_access,
)
from mlops_core.artifact import CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE, publish_files
from mlops_core.storage import open_store
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    copy_s3_secret,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import model_version_name
from mlops_operator.kube import Kube

MAX_P99_S = 2.0
MAX_RSS_MIB = 400.0
MAX_COST_GROWTH = 1.5
#: spec changes (and Job completions) in flight at once
BURST = 10
#: clients creating objects side by side
CREATORS = 8
KINDS_CHANGED = ("Model", "ModelVersion", "Deployment")
#: the version each Model starts with (registered directly, not trained)
PRELOADED = "0.1.0"


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def artifact_files(model: str, version: str) -> dict[str, bytes]:
    """A small artifact: what the benchmark publishes in place of a trainer."""
    return {
        WEIGHTS_FILE: secrets.token_bytes(256),
        CONFIG_FILE: json.dumps({"architecture": "logistic_regression"}).encode(),
        METRICS_FILE: json.dumps({"validation": {"val_accuracy": 0.9}}).encode(),
    }


def model(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {"task": "tabular-classification", "description": "scale benchmark"},
    }


def model_version(name: str, uri: str, digest: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": model_version_name(name, PRELOADED)},
        "spec": {
            "model": name,
            "version": PRELOADED,
            "stage": "draft",
            "artifact": {"uri": uri, "digest": digest},
        },
    }


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": f"{name}-serve"},
        "spec": {"model": name, "version": PRELOADED, "strategy": {"type": "direct"}},
    }


def training_job(name: str, bucket: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": f"{name}-train"},
        "spec": {
            "modelName": name,
            "dataset": {"train": f"s3://{bucket}/datasets/breast-cancer/train.csv"},
            "model": {"architecture": "logistic_regression"},
            "training": {"epochs": 1},
        },
    }


class Sampler:
    """The operator process's RSS every 0.5 s in a thread: the peak since the last reset."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.Error:
                return

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def each(items: Iterable[Any], call: Callable[[Any], Any]) -> list[Any]:
    with ThreadPoolExecutor(CREATORS) as pool:
        return list(pool.map(call, items))


def caught_up(body: dict[str, Any] | None) -> bool:
    if body is None:
        return False
    observed = (body.get("status") or {}).get("observedGeneration")
    return observed is not None and observed >= body["metadata"]["generation"]


def wait_converged(admin: Kube, namespace: str, count: int, *, timeout: float) -> None:
    """Until every object reports its generation observed and every run has its Job."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 30
    while True:
        behind = {
            kind: sum(not caught_up(b) for b in admin.list(API_VERSION, kind, namespace))
            for kind in ("Model", "ModelVersion", "Deployment", "TrainingJob")
        }
        jobs = sum(
            bool((tj.get("status") or {}).get("jobName"))
            for tj in admin.list(API_VERSION, "TrainingJob", namespace)
        )
        if not any(behind.values()) and jobs >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not converged after {timeout:.0f}s: {behind}, {jobs} runs")
        if time.monotonic() >= next_note:
            log(f"  not yet observed: {behind}; runs with a Job: {jobs} of {count}")
            next_note = time.monotonic() + 30
        time.sleep(1.0)


def ready(body: dict[str, Any] | None) -> bool:
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def poll_until(checks: dict[str, Callable[[], bool]], *, timeout: float) -> dict[str, float]:
    """Seconds until each check first held, polling all of them every 20 ms."""
    started = time.monotonic()
    done: dict[str, float] = {}
    while len(done) < len(checks):
        for key, check in checks.items():
            if key not in done and check():
                done[key] = time.monotonic() - started
        if time.monotonic() - started > timeout:
            missing = sorted(set(checks) - set(done))
            raise TimeoutError(f"not within {timeout:.0f}s: {missing}")
        time.sleep(0.02)
    return done


def change_spec(admin: Kube, namespace: str, kind: str, name: str, n: int) -> dict[str, Any]:
    patch = (
        {"spec": {"progressDeadlineSeconds": 600 + n}}
        if kind == "Deployment"
        else {"spec": {"description": f"change {n}"}}
    )
    return admin.merge_patch(API_VERSION, kind, name, namespace, patch)


def catch_up_times(
    admin: Kube, namespace: str, names: dict[str, list[str]], samples: int
) -> list[float]:
    chance = random.Random(7)
    picked = [
        (kind, name) for kind in KINDS_CHANGED for name in chance.sample(names[kind], samples)
    ]
    chance.shuffle(picked)
    times: list[float] = []
    for start in range(0, len(picked), BURST):
        burst = picked[start : start + BURST]
        wanted: dict[str, Callable[[], bool]] = {}
        changed_at: dict[str, float] = {}
        for n, (kind, name) in enumerate(burst):
            key = f"{kind}/{name}"
            changed_at[key] = time.monotonic()
            generation = change_spec(admin, namespace, kind, name, start + n)["metadata"][
                "generation"
            ]

            def check(kind: str = kind, name: str = name, generation: int = generation) -> bool:
                body = admin.get(API_VERSION, kind, name, namespace) or {}
                return int((body.get("status") or {}).get("observedGeneration") or 0) >= generation

            wanted[key] = check
        began = time.monotonic()
        for key, seconds in poll_until(wanted, timeout=300).items():
            times.append(seconds + (began - changed_at[key]))
    return times


def complete_job(admin: Kube, namespace: str, job: str) -> None:
    """Mark the Job succeeded, as the Job controller does when its pod succeeds."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = ((admin.get("batch/v1", "Job", job, namespace) or {}).get("status") or {}).get(
        "startTime"
    )
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now, "lastProbeTime": now}
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    status: dict[str, Any] = {"completionTime": now, "succeeded": 1, "conditions": conditions}
    if started is None:
        status["startTime"] = now
    admin.merge_patch("batch/v1", "Job", job, namespace, {"status": status}, subresource="status")


def job_to_ready_times(
    admin: Kube, namespace: str, client: Any, runs: list[str], samples: int
) -> list[float]:
    times: list[float] = []
    picked = random.Random(11).sample(runs, samples)
    for start in range(0, len(picked), BURST):
        wanted: dict[str, Callable[[], bool]] = {}
        finished_at: dict[str, float] = {}
        for run in picked[start : start + BURST]:
            body = admin.get(API_VERSION, "TrainingJob", run, namespace) or {}
            status = body.get("status") or {}
            version, uri, job = status["version"], status["artifact"]["uri"], status["jobName"]
            model_name = body["spec"]["modelName"]
            publish_files(
                open_store(uri, client),
                model=model_name,
                version=version,
                files=artifact_files(model_name, version),
            )
            finished_at[run] = time.monotonic()
            complete_job(admin, namespace, job)
            mv = model_version_name(model_name, version)

            def check(mv: str = mv) -> bool:
                return ready(admin.get(API_VERSION, "ModelVersion", mv, namespace))

            wanted[run] = check
        began = time.monotonic()
        for run, seconds in poll_until(wanted, timeout=300).items():
            times.append(seconds + (began - finished_at[run]))
    return times


def fresh_namespace(admin: Kube, size: int) -> str:
    name = no_pod_namespace(admin, f"scale-{size}-{secrets.token_hex(3)}")
    copy_s3_secret(admin, name)
    return name


def delete_namespace(admin: Kube, name: str, *, timeout: float = 600) -> None:
    admin.delete("v1", "Namespace", name)
    deadline = time.monotonic() + timeout
    while admin.get("v1", "Namespace", name) is not None:
        if time.monotonic() > deadline:
            log(f"namespace {name} still terminating after {timeout:.0f}s")
            return
        time.sleep(1.0)


def measure_size(
    cluster: DevCluster, admin: Kube, kubeconfig: Path, work: Path, *, size: int, samples: int
) -> dict[str, float]:
    client = cluster_s3(cluster)
    namespace = fresh_namespace(admin, size)
    names = [f"m{n:04d}" for n in range(size)]
    env = {**cluster.s3_env(), "USE_MLOPS_SERVING": "true", "USE_MLOPS_MONITORING": "true"}
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / f"operator-{size}.log", env=env
    ).start()
    try:
        assert operator.process is not None
        with Sampler(operator.process.pid) as sampler:
            time.sleep(5.0)
            rss_idle = sampler.rss()

            def publish(name: str) -> tuple[str, str]:
                # apart from where the runs publish: a run may pick any version
                uri = f"s3://{cluster.bucket}/preloaded/{namespace}/{name}/{PRELOADED}/"
                files = artifact_files(name, PRELOADED)
                published = publish_files(
                    open_store(uri, client), model=name, version=PRELOADED, files=files
                )
                return uri, published.digest

            artifacts = each(names, publish)
            bodies = [
                *(model(n) for n in names),
                *(model_version(n, *a) for n, a in zip(names, artifacts, strict=True)),
                *(deployment(n) for n in names),
                *(training_job(n, cluster.bucket) for n in names),
            ]
            for body in bodies:
                body["metadata"]["namespace"] = namespace
            log(f"size {size}: {size} artifacts published; creating {4 * size} objects")
            cpu_before = sampler.cpu()
            started = time.monotonic()
            each(bodies, admin.create)
            created_s = time.monotonic() - started
            wait_converged(admin, namespace, size, timeout=900)
            converged_s = time.monotonic() - started
            cpu_converge = sampler.cpu() - cpu_before
            rss_converged = sampler.rss()
            log(
                f"size {size}: created {4 * size} objects in {created_s:.1f}s, converged in "
                f"{converged_s:.1f}s, CPU {cpu_converge:.1f}s, RSS {rss_converged / 2**20:.0f} MiB"
            )
            quiet_cpu = sampler.cpu()
            time.sleep(30.0)
            cpu_quiet_per_minute = (sampler.cpu() - quiet_cpu) * 2
            per_kind = {
                "Model": names,
                "ModelVersion": [model_version_name(n, PRELOADED) for n in names],
                "Deployment": [f"{n}-serve" for n in names],
            }
            catch_up = catch_up_times(admin, namespace, per_kind, min(samples, size))
            log(
                f"size {size}: catch-up p50 {percentile(catch_up, 0.5):.3f}s "
                f"p99 {percentile(catch_up, 0.99):.3f}s over {len(catch_up)} changes"
            )
            job_ready = job_to_ready_times(
                admin, namespace, client, [f"{n}-train" for n in names], min(samples, size)
            )
            log(
                f"size {size}: Job → ModelVersion Ready p50 {percentile(job_ready, 0.5):.3f}s "
                f"p99 {percentile(job_ready, 0.99):.3f}s over {len(job_ready)} runs"
            )
            rss_end = sampler.rss()
            peak = max(sampler.peak, rss_end)
        log(f"size {size}: deleting the namespace")
        delete_namespace(admin, namespace)
    finally:
        operator.stop()
    objects = 4 * size
    return {
        "rss_idle_mib": rss_idle / 2**20,
        "rss_converged_mib": rss_converged / 2**20,
        "rss_end_mib": rss_end / 2**20,
        "rss_peak_mib": peak / 2**20,
        "cpu_s_per_object": cpu_converge / objects,
        "cpu_s_per_object_minute_quiet": cpu_quiet_per_minute / objects,
        "create_s": created_s,
        "converge_s": converged_s,
        "catch_up_p50_s": percentile(catch_up, 0.5),
        "catch_up_p99_s": percentile(catch_up, 0.99),
        "catch_up_samples": len(catch_up),
        "job_to_ready_p50_s": percentile(job_ready, 0.5),
        "job_to_ready_p99_s": percentile(job_ready, 0.99),
        "job_to_ready_samples": len(job_ready),
    }


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The JSON summary of one run: ``figures`` holds ``sizes`` and, per size ``N``, the
    figures of :func:`measure_size` under ``"N"``; the targets are judged at the largest size
    and on the growth of CPU per object from the smallest to the largest."""
    sizes = sorted(figures["sizes"])
    small, large = figures[str(sizes[0])], figures[str(sizes[-1])]
    growth = large["cpu_s_per_object"] / max(small["cpu_s_per_object"], 1e-9)
    flat: dict[str, Any] = {"sizes": sizes, "load_before": figures.get("load_before")}
    for size in sizes:
        for key, value in figures[str(size)].items():
            flat[f"{key}@{size}"] = round(value, 4) if isinstance(value, float) else value
    flat["catch_up_p99_s"] = round(large["catch_up_p99_s"], 3)
    flat["rss_peak_mib"] = round(max(figures[str(s)]["rss_peak_mib"] for s in sizes), 1)
    flat["cpu_per_object_growth"] = round(growth, 3)
    flat["load_after"] = figures.get("load_after")
    return {
        "benchmark": "operator_scale",
        "figures": flat,
        "targets": {
            "catch_up_p99_s": f"<= {MAX_P99_S} (at {sizes[-1]} of each kind)",
            "rss_peak_mib": f"<= {MAX_RSS_MIB:.0f}",
            "cpu_per_object_growth": f"<= {MAX_COST_GROWTH} (CPU per object, largest/smallest)",
        },
        "met": large["catch_up_p99_s"] <= MAX_P99_S
        and flat["rss_peak_mib"] <= MAX_RSS_MIB
        and growth <= MAX_COST_GROWTH,
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(cluster: DevCluster, *, sizes: list[int], samples: int, work: Path) -> dict[str, Any]:
    admin, kubeconfig = operator_access(cluster, work)
    figures: dict[str, Any] = {"sizes": sizes, "load_before": load_average()}
    for size in sizes:
        figures[str(size)] = measure_size(
            cluster, admin, kubeconfig, work, size=size, samples=samples
        )
    figures["load_after"] = load_average()
    return summary(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated object counts")
    parser.add_argument(
        "--samples", type=int, default=50, help="spec changes per kind and Job completions"
    )
    add_cluster_option(parser)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    # two Services per Deployment (its router's and its version's server's)
    with bench_cluster(args.dir, services=2 * sizes[-1] + 64) as (cluster, work):
        result = run(cluster, sizes=sizes, samples=args.samples, work=work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
