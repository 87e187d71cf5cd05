"""Rollout timing under a steady request load through the router.

    python benchmarks/rollout_timing.py [--repeats 3] [--interval 10] [--dir DEVCLUSTER]

Trains two tiny versions of the breast-cancer example, then, each ``--repeats`` times:

- canary of 3 steps × ``--interval`` s with a healthy version: time from the new version's pods
  being ready (the first step's weights applied) to 100% on it. Baseline, measured in the same
  run: the steps' own intervals (3 × interval); target ≤ 3 × interval + 5 s.
- faulty version (a p99 gate it cannot meet): time from the step's start to 100% back on the
  stable version. Baseline: one interval; target ≤ interval + 2 s.
- direct switch: failed requests of all sent during the switch. Target 0.

Uses the devcluster in ``--dir`` / ``$MLOPS_DEVCLUSTER_DIR`` if one is up, else starts one.
Medians over the repeats; the last line is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cluster import add_cluster_option, bench_cluster, cluster_s3, operator_access
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    copy_s3_secret,
    upload_example_datasets,
    wait_until,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

MODEL = "breast-cancer"
DATA = "s3://mlops/datasets/breast-cancer"
ROW = [
    17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
    1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
    25.38, 17.33, 184.6, 2019, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
]  # fmt: skip


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def train(admin: Kube, namespace: str, versions: list[str]) -> None:
    admin.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": MODEL, "namespace": namespace},
            "spec": {"task": "tabular-classification"},
        }
    )
    for version in versions:
        admin.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "TrainingJob",
                "metadata": {"name": f"bc-{version.replace('.', '-')}", "namespace": namespace},
                "spec": {
                    "modelName": MODEL,
                    "dataset": {"train": f"{DATA}/train.csv", "labelColumn": "diagnosis"},
                    "model": {"architecture": "logistic_regression"},
                    "training": {"epochs": 2, "batchSize": 64},
                    "resources": {"cpu": "500m", "memory": "1Gi"},
                    "registration": {"version": version},
                },
            }
        )

    def ready() -> bool:
        ok = [
            mv
            for mv in admin.list(API_VERSION, "ModelVersion", namespace)
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (mv.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ok) == len(versions)

    wait_until(ready, timeout=300, what="the trained versions", interval=1)


def deployment(name: str, namespace: str, version: str, strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": MODEL,
            "version": version,
            "replicas": 1,
            "resources": {"cpu": "250m", "memory": "1Gi"},
            "strategy": strategy,
        },
    }


def status(admin: Kube, namespace: str, name: str) -> dict[str, Any]:
    return dict((admin.get(API_VERSION, "Deployment", name, namespace) or {}).get("status") or {})


def router(admin: Kube, namespace: str, name: str) -> str:
    def ready() -> str | None:
        for pod in admin.list(
            "v1",
            "Pod",
            namespace,
            label_selector=f"mlops.dev/deployment={name},app.kubernetes.io/component=router",
        ):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return f"{pod['status']['podIP']}:8080"
        return None

    return wait_until(ready, timeout=120, what="a ready router")


class Load:
    """Requests one after another through the router, counting failures."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        body = json.dumps({"instances": [ROW]}).encode()
        while not self._stop.is_set():
            request = urllib.request.Request(
                f"http://{self.address}/v1/models/{MODEL}:predict",
                data=body,
                headers={"content-type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            self.sent += 1
            self.failed += 0 if ok else 1
            time.sleep(0.005)


def watch_traffic(
    admin: Kube,
    namespace: str,
    name: str,
    done: Callable[[str, dict[str, float]], bool],
    *,
    timeout: float,
) -> dict[str, float]:
    """Last time each traffic summary first appeared (monotonic seconds), until ``done``."""
    seen: dict[str, float] = {}
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = status(admin, namespace, name).get("trafficSummary") or ""
        if summary != last:
            seen[summary] = time.monotonic()
            last = summary
        if done(summary, seen):
            return seen
        time.sleep(0.05)
    raise TimeoutError(f"{name}: no end state in {timeout}s (seen {list(seen)})")


def serve(admin: Kube, namespace: str, body: dict[str, Any]) -> str:
    name = body["metadata"]["name"]
    admin.apply(body)
    wait_until(
        lambda: status(admin, namespace, name).get("phase") == "Succeeded",
        timeout=180,
        what=f"{name} serving",
    )
    return router(admin, namespace, name)


def canary_run(admin: Kube, namespace: str, interval: int, *, healthy: bool) -> float:
    name = f"{'ok' if healthy else 'bad'}-{secrets.token_hex(2)}"
    analysis = {"maxErrorRate": 0.01, "minRequests": 5}
    analysis["maxP99LatencyMs"] = 5000 if healthy else 0.001
    strategy = {
        "type": "canary",
        "canary": {"stepWeights": [10, 25, 50], "intervalSeconds": interval, "analysis": analysis},
    }
    body = deployment(name, namespace, "1.0.0", strategy)
    with Load(serve(admin, namespace, body)):
        body["spec"]["version"] = "1.1.0"
        admin.apply(body)
        final = "1.1.0=100" if healthy else "1.0.0=100"
        first_step = "1.0.0=90,1.1.0=10"
        seen = watch_traffic(
            admin,
            namespace,
            name,
            lambda summary, seen: summary == final and first_step in seen,
            timeout=6 * interval + 180,
        )
    admin.delete(API_VERSION, "Deployment", name, namespace)
    # healthy: the first step's weights are applied the moment the new pods are ready;
    # faulty: they mark the start of the step that fails
    return seen[final] - seen[first_step]


def direct_run(admin: Kube, namespace: str) -> tuple[int, int]:
    name = f"direct-{secrets.token_hex(2)}"
    body = deployment(name, namespace, "1.0.0", {"type": "direct"})
    with Load(serve(admin, namespace, body)) as load:
        time.sleep(1)
        body["spec"]["version"] = "1.1.0"
        admin.apply(body)
        wait_until(
            lambda: (
                (s := status(admin, namespace, name)).get("stableVersion") == "1.1.0"
                and not s.get("rollout", {}).get("draining")
            ),
            timeout=180,
            what="the direct switch and drain",
            interval=0.1,
        )
        time.sleep(2)
    admin.delete(API_VERSION, "Deployment", name, namespace)
    return load.failed, load.sent


def run(cluster: DevCluster, *, repeats: int, interval: int, work: Path) -> dict[str, Any]:
    admin, kubeconfig = operator_access(cluster, work)
    client = cluster_s3(cluster)
    upload_example_datasets(f"s3://{cluster.bucket}", client=client)
    namespace = f"bench-rollout-{secrets.token_hex(3)}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    wait_until(
        lambda: admin.get("v1", "ServiceAccount", "default", namespace), timeout=30, what="ns"
    )
    copy_s3_secret(admin, namespace)
    env = {
        **cluster.s3_env(),
        "USE_MLOPS_SERVING": "true",
        "MLOPS_ROUTER_REPLICAS": "1",
        "MLOPS_DRAIN_SECONDS": "2",
    }
    operator = OperatorProcess(kubeconfig=kubeconfig, log_path=work / "operator.log", env=env)
    operator.start()
    healthy, faulty, failed, sent = [], [], 0, 0
    try:
        train(admin, namespace, ["1.0.0", "1.1.0"])
        for attempt in range(repeats):
            healthy.append(canary_run(admin, namespace, interval, healthy=True))
            faulty.append(canary_run(admin, namespace, interval, healthy=False))
            f, s = direct_run(admin, namespace)
            failed, sent = failed + f, sent + s
            log(
                f"run {attempt + 1}: canary ready→100% {healthy[-1]:.2f}s, faulty step→stable "
                f"{faulty[-1]:.2f}s, direct switch {f} failed of {s}"
            )
    finally:
        operator.stop()
        admin.delete("v1", "Namespace", namespace)
    canary_s, rollback_s = statistics.median(healthy), statistics.median(faulty)
    print(f"canary 3×{interval}s, ready → 100%: median {canary_s:.2f}s (baseline {3 * interval}s)")
    print(f"faulty step start → 100% stable: median {rollback_s:.2f}s (baseline {interval}s)")
    print(f"direct switch: {failed} failed of {sent} requests")
    return summary(
        {
            "interval_s": interval,
            "repeats": repeats,
            "canary_ready_to_full_s": canary_s,
            "rollback_step_start_to_stable_s": rollback_s,
            "direct_failed_requests": failed,
            "direct_requests_sent": sent,
        }
    )


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary from the medians; the baselines are the steps' own intervals."""
    interval = figures["interval_s"]
    canary_s, rollback_s = (
        figures["canary_ready_to_full_s"],
        figures["rollback_step_start_to_stable_s"],
    )
    canary_target, rollback_target = 3 * interval + 5, interval + 2
    failed = figures["direct_failed_requests"]
    return {
        "benchmark": "rollout_timing",
        "figures": {
            **{k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()},
            "canary_overhead_over_intervals_s": round(canary_s - 3 * interval, 2),
            "rollback_overhead_over_interval_s": round(rollback_s - interval, 2),
        },
        "targets": {
            "canary_ready_to_full_s": canary_target,
            "rollback_step_start_to_stable_s": rollback_target,
            "direct_failed_requests": 0,
        },
        "met": canary_s <= canary_target and rollback_s <= rollback_target and failed == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interval", type=int, default=10)
    add_cluster_option(parser)
    args = parser.parse_args()
    with bench_cluster(args.dir) as (cluster, work):
        summary = run(cluster, repeats=args.repeats, interval=args.interval, work=work)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
