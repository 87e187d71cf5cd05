"""``helm install`` on the devcluster gives a working system, and a real Prometheus scrapes it.

One release for the module: the operator runs as a pod from the chart (the node agent runs this
project's operator image as a process), trains an example through it, exports its metrics; a
model server and a router run as pods next to it; Prometheus finds all of them through
Kubernetes service discovery, and every query of the Grafana dashboard returns data. Last,
``helm upgrade`` rolls the operator and ``helm uninstall`` leaves no orphans.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import httpx
import pytest
import yaml
from chart_release import CHART, REST_API, Release, installed_release
from prometheus_server import load_dashboard, running_prometheus, scrape_config
from test_serving_models import train_tabular
from test_serving_server import RECORD

from mlops_core.images import SERVING_IMAGE
from mlops_core.storage import join_uri, open_store
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import upload_example_datasets
from mlops_operator import __version__

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = CHART.parents[1]
SERVING = f"{SERVING_IMAGE}:{__version__}"


@pytest.fixture(scope="module")
def release(helm: Path, devcluster: DevCluster) -> Iterator[Release]:
    with installed_release(helm, devcluster) as installed:
        yield installed


def s3(devcluster: DevCluster) -> Any:
    return boto3.client("s3", region_name="us-east-1", **_s3_settings(devcluster))


def _s3_settings(devcluster: DevCluster) -> dict[str, str]:
    return {
        "endpoint_url": devcluster.s3_endpoint,
        "aws_access_key_id": devcluster.s3_access_key,
        "aws_secret_access_key": devcluster.s3_secret_key,
    }


def wait_for(what: str, check: Any, *, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def test_the_operator_runs_from_the_chart_and_trains_an_example(
    release: Release, devcluster: DevCluster
) -> None:
    pod = release.wait_ready("operator")
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    ip = pod["status"]["podIP"]

    def metrics() -> bytes:
        try:
            with urllib.request.urlopen(f"http://{ip}:8081/metrics", timeout=5) as response:
                return bytes(response.read())
        except OSError:
            return b""

    assert b"mlops_operator_build_info" in wait_for("the operator's metrics", metrics, timeout=60)
    if REST_API:
        rest = release.wait_ready("rest-api")
        health = httpx.get(f"http://{rest['status']['podIP']}:8080/mlops/health", timeout=5)
        assert health.status_code == 200

    upload_example_datasets("s3://mlops", client=s3(devcluster))
    for example in ("tabular/model.yaml", "tabular/trainingjob.yaml"):
        devcluster.kubectl("apply", "-n", release.workload, "-f", str(ROOT / "examples" / example))
    devcluster.kubectl(
        "wait",
        "-n",
        release.workload,
        "--for=condition=Succeeded",
        "--timeout=300s",
        "trainingjob/breast-cancer-mlp",
    )
    versions = release.kubectl_json("get", "modelversions", "-n", release.workload)["items"]
    assert [v["spec"]["model"] for v in versions] == ["breast-cancer"]
    devcluster.kubectl(
        "wait",
        "-n",
        release.workload,
        "--for=condition=Ready",
        "--timeout=60s",
        f"modelversion/{versions[0]['metadata']['name']}",
    )


def serving_pods(namespace: str, repository: str) -> list[dict[str, Any]]:
    """A model server for fraud 1.0.0 (as the Deployment reconciler runs them)."""
    labels = {
        "app.kubernetes.io/managed-by": "mlops-operator",
        "app.kubernetes.io/component": "serving",
        "mlops.dev/model": "fraud",
        "mlops.dev/version": "1.0.0",
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fraud-1-0-0", "namespace": namespace, "labels": labels},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                "containers": [
                    {
                        "name": "server",
                        "image": SERVING,
                        "args": ["serve"],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            },
                            {"name": "HOST", "value": "$(POD_IP)"},
                            {"name": "MODEL_REPOSITORY_URI", "value": repository},
                            {"name": "PRELOAD_MODELS", "value": "fraud:1.0.0"},
                            {"name": "DRIFT_MIN_SAMPLES", "value": "10"},
                            {"name": "TORCH_NUM_THREADS", "value": "1"},
                        ],
                        "envFrom": [{"secretRef": {"name": "mlops-s3"}}],
                        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
                    }
                ],
            },
        }
    ]


def router_pod(namespace: str, server_ip: str) -> list[dict[str, Any]]:
    config = {
        "model": "fraud",
        "backends": [{"version": "1.0.0", "weight": 100, "endpoints": [f"{server_ip}:8080"]}],
    }
    labels = {
        "app.kubernetes.io/managed-by": "mlops-operator",
        "app.kubernetes.io/component": "router",
        "mlops.dev/model": "fraud",
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fraud-router", "namespace": namespace},
            "data": {"router.json": json.dumps(config)},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "fraud-router", "namespace": namespace, "labels": labels},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                "containers": [
                    {
                        "name": "router",
                        "image": SERVING,
                        "args": ["route"],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            },
                            {"name": "HOST", "value": "$(POD_IP)"},
                        ],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/mlops/router"}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": "fraud-router"}}],
            },
        },
    ]


def deployment_with_rollout(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Deployment (mlops.dev) and the status its reconciler writes in a canary step."""
    body = yaml.safe_load((ROOT / "examples" / "deployments" / "canary.yaml").read_text())
    body["metadata"] = {"name": "fraud", "namespace": namespace}
    body["spec"]["model"] = "fraud"
    status = {
        "observedGeneration": 1,
        "phase": "Progressing",
        "traffic": [{"version": "1.0.0", "weight": 90}, {"version": "1.1.0", "weight": 10}],
        "currentStep": 0,
        "drift": [
            {
                "version": "1.0.0",
                "method": "wasserstein",
                "score": 0.12,
                "feature": "amount",
                "drifted": False,
                "time": "2026-01-01T00:00:00Z",
            }
        ],
        "canaryVersion": "1.1.0",
        "analysis": [SEQUENTIAL_LOOK],
        "abTest": AB_VERDICT,
        "performance": [PERFORMANCE],
    }
    return body, status


def _increase(canary: float, stable: float, width: float, tolerance: float) -> dict[str, Any]:
    increase = canary - stable
    return {
        "canary": canary,
        "stable": stable,
        "increase": increase,
        "lower": increase - width,
        "upper": increase + width,
        "tolerance": tolerance,
        "shown": "Undecided",
    }


#: one look of a sequential canary step and an A/B verdict, as the reconciler writes them
SEQUENTIAL_LOOK: Final = {
    "step": 0,
    "weight": 10,
    "time": "2026-01-01T00:00:00Z",
    "canary": {"requests": 120, "errors": 1, "errorRate": 0.0083, "p99LatencyMs": 40.0},
    "stable": {"requests": 1100, "errors": 11, "errorRate": 0.01, "p99LatencyMs": 42.0},
    "limits": {"maxErrorRate": 0.01, "maxP99LatencyMs": 250, "minRequests": 50},
    "decision": "Waiting",
    "reason": "no evidence against it yet",
    "method": "sequential",
    "sequential": {
        "canaryRequests": 120,
        "stableRequests": 1100,
        "significanceLevel": 0.05,
        "errorRate": _increase(0.0083, 0.01, 0.03, 0.005),
        "slowShare": _increase(0.025, 0.02, 0.05, 0.02),
        "latencyBoundMs": 25.0,
    },
}
#: the performance estimate the reconciler reads from the server pods
PERFORMANCE: Final = {
    "version": "1.0.0",
    "calibrated": True,
    "accuracy": {"value": 0.9, "lower": 0.86, "upper": 0.94},
    "testAccuracy": 0.92,
    "margin": 0.05,
    "degraded": False,
    "realizedAccuracy": 0.88,
    "realizedSamples": 40,
    "samples": 500,
    "pods": 1,
    "time": "2026-01-01T00:00:00Z",
}
AB_VERDICT: Final = {
    "metric": "accuracy",
    "method": "msprt",
    "samples": {"1.0.0": 600, "1.1.0": 610},
    "values": {"1.0.0": 0.8, "1.1.0": 0.83},
    "arms": [
        {
            "version": "1.0.0",
            "weight": 50,
            "control": True,
            "samples": 600,
            "successes": 480,
            "value": 0.8,
            "ciLower": 0.74,
            "ciUpper": 0.86,
        },
        {
            "version": "1.1.0",
            "weight": 50,
            "control": False,
            "samples": 610,
            "successes": 506,
            "value": 0.83,
            "ciLower": 0.77,
            "ciUpper": 0.88,
            "pValue": 0.4,
        },
    ],
    "pValue": 0.4,
    "decision": "Running",
}


def experiment_with_trials(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = yaml.safe_load((ROOT / "examples" / "experiment" / "experiment.yaml").read_text())
    body["metadata"] = {"name": "breast-cancer-search", "namespace": namespace}
    body["spec"].update(maxTrials=1, parallelTrials=1, maxFailedTrials=1)  # a light search
    status = {"trialsCreated": 3, "trialsRunning": 2, "trialsSucceeded": 1}
    return body, status


def pod_ip(devcluster: DevCluster, namespace: str, name: str) -> str:
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=180s", f"pod/{name}"
    )
    pod = json.loads(devcluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    return str(pod["status"]["podIP"])


def test_prometheus_scrapes_every_part_and_every_panel_has_data(
    release: Release, devcluster: DevCluster, tmp_path: Path
) -> None:
    ns = release.workload
    repository = f"s3://mlops/test-{ns}/models"
    train_tabular(open_store(join_uri(repository, "fraud", "1.0.0"), client=s3(devcluster)), seed=0)
    apply = ["apply", "-n", ns, "-f", "-"]
    devcluster.kubectl(*apply, input=yaml.safe_dump_all(serving_pods(ns, repository)))
    server_ip = pod_ip(devcluster, ns, "fraud-1-0-0")
    devcluster.kubectl(*apply, input=yaml.safe_dump_all(router_pod(ns, server_ip)))
    router_ip = pod_ip(devcluster, ns, "fraud-router")
    for body, status in (deployment_with_rollout(ns), experiment_with_trials(ns)):
        devcluster.kubectl(*apply, input=yaml.safe_dump(body))
        plural = f"{body['kind'].lower()}s.mlops.dev/{body['metadata']['name']}"
        devcluster.kubectl(
            "patch",
            "-n",
            ns,
            plural,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )

    config = scrape_config(kubeconfig=devcluster.kubeconfig, namespaces=[release.namespace, ns])
    with running_prometheus(config, tmp_path) as prometheus, httpx.Client(timeout=30) as http:
        wanted = {"operator", "serving", "router"} | ({"rest-api"} if REST_API else set())

        def all_up() -> bool:
            up = {
                t["labels"]["component"] for t in prometheus.active_targets() if t["health"] == "up"
            }
            return wanted <= up

        prometheus.wait_for(f"targets {sorted(wanted)} up", all_up)
        # a short load through the router, a few of them bad requests
        for i in range(80):
            body = {"instances": [RECORD if i % 20 else {"amount": "not a number"}]}
            answer = http.post(f"http://{router_ip}:8080/v1/models/fraud:predict", json=body)
            if answer.status_code == 200 and i % 8 == 1:  # a true label for some of them
                http.post(
                    f"http://{router_ip}:8080/v1/feedback",
                    json={"predictionId": answer.json()["predictionIds"][0], "trueLabel": "ok"},
                )
        time.sleep(4)

        dashboard = load_dashboard()
        empty = []
        for spec in dashboard.panel_specs():
            for query in spec.queries:
                expr = dashboard.concrete(query.expr, window="30s")
                if not prometheus.wait_for_data(expr):
                    empty.append(f"{spec.title}: {expr}")
        assert not empty, "panels without data:\n" + "\n".join(empty)


def test_upgrade_rolls_the_operator_and_uninstall_leaves_no_orphans(
    release: Release, devcluster: DevCluster
) -> None:
    before = release.wait_ready("operator")["metadata"]["uid"]
    release.run(
        "upgrade",
        release.name,
        str(CHART),
        "-n",
        release.namespace,
        *release.values("logLevel=DEBUG"),
        "--wait",
        "--timeout",
        "180s",
    )
    after = release.wait_ready("operator")
    assert after["metadata"]["uid"] != before
    env = {e["name"]: e.get("value") for e in after["spec"]["containers"][0]["env"]}
    assert env["MLOPS_LOG_LEVEL"] == "DEBUG"

    model = str(ROOT / "examples" / "tabular" / "model.yaml")
    devcluster.kubectl("apply", "-n", release.workload, "-f", model)  # a user's resource
    release.run("uninstall", release.name, "-n", release.namespace, "--wait")
    selector = f"app.kubernetes.io/instance={release.name}"
    namespaced = "deployments,services,serviceaccounts,roles,rolebindings,configmaps,kopfpeerings"
    for args in (
        ["get", f"{namespaced},pods", "-A", "-l", selector, "-o", "name"],
        [
            "get",
            "clusterroles,clusterrolebindings,clusterkopfpeerings",
            "-l",
            selector,
            "-o",
            "name",
        ],
    ):
        # pods end after their Deployment is deleted; everything else goes at once
        wait_for(
            f"{release.name}'s objects to go",
            lambda a=args: not devcluster.kubectl(*a).stdout,
            timeout=90,
        )
    # Helm's convention: CRDs and what users created stay
    devcluster.kubectl("get", "crd", "trainingjobs.mlops.dev", "clusterkopfpeerings.kopf.dev")
    devcluster.kubectl("get", "model/breast-cancer", "-n", release.workload)
