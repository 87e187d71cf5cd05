"""The router finds version backends through EndpointSlices watched on the real API server."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from test_router_proxy import versions_of
from test_serving_models import build_repository, run_process

from mlops_core.images import SERVING_IMAGE
from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration


def serving_pods(namespace: str, name: str, *, repository: Path, env: dict[str, str]) -> str:
    """A Deployment of the serving image (a local process on the devcluster) and its Service."""
    env_yaml = "".join(f"        - {{name: {k}, value: {json.dumps(v)}}}\n" for k, v in env.items())
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, service: {env["SERVICE"]}}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: server
        image: {SERVING_IMAGE}
        args: [serve, --host, $(POD_IP), --port, "8080"]
        ports: [{{name: http, containerPort: 8080}}]
        env:
        - name: POD_IP
          valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
        - {{name: MODEL_REPOSITORY_URI, value: "{repository}"}}
        - {{name: TORCH_NUM_THREADS, value: "1"}}
{env_yaml}        readinessProbe:
          httpGet: {{path: /v2/health/ready, port: http}}
          periodSeconds: 1
"""


def service(namespace: str, name: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{service: {name}}}
  ports: [{{name: http, port: 8080, targetPort: http}}]
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_backends_follow_endpointslices_of_real_pods(
    devcluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    repository = build_repository(tmp_path / "models")

    def apply(manifest: str) -> None:
        devcluster.kubectl("apply", "-f", "-", input=manifest)

    for version, svc in (("1.0.0", "fraud-v1-0-0"), ("1.1.0", "fraud-v1-1-0")):
        apply(service(namespace, svc))
        apply(
            serving_pods(
                namespace,
                svc,
                repository=repository,
                env={
                    "SERVICE": svc,
                    "MODEL_VERSIONS": f"fraud:{version}",
                    "PRELOAD_MODELS": "fraud",
                },
            )
        )
    for svc in ("fraud-v1-0-0", "fraud-v1-1-0"):
        devcluster.kubectl(
            "rollout", "status", "-n", namespace, f"deployment/{svc}", "--timeout=120s"
        )
    # a pod of the canary Service that never becomes ready (its preload cannot succeed)
    apply(
        serving_pods(
            namespace,
            "fraud-v1-1-0-broken",
            repository=repository,
            env={"SERVICE": "fraud-v1-1-0", "PRELOAD_MODELS": "fraud:9.9.9"},
        )
    )
    config = tmp_path / "router.json"
    config.write_text(
        json.dumps(
            {
                "model": "fraud",
                "backends": [
                    {"version": "1.0.0", "weight": 50, "service": "fraud-v1-0-0"},
                    {"version": "1.1.0", "weight": 50, "service": "fraud-v1-1-0"},
                ],
            }
        )
    )
    env = {
        **devcluster.env(),
        "ROUTER_CONFIG_FILE": str(config),
        "ROUTER_NAMESPACE": namespace,
        "ROUTER_CONFIG_POLL_SECONDS": "0.1",
    }
    with (
        run_process(
            "route", host="127.0.0.24", env=env, log_dir=tmp_path, ready_path="/readyz"
        ) as router,
        httpx.Client(base_url=router.url, timeout=30) as client,
    ):
        wait_for(
            "one ready endpoint per version",
            lambda: client.get("/readyz").json()["endpoints"] == {"1.0.0": 1, "1.1.0": 1},
        )

        def canary_conditions() -> list[object]:
            slices = devcluster.kubectl(
                "get",
                "endpointslices",
                "-n",
                namespace,
                "-l",
                "kubernetes.io/service-name=fraud-v1-1-0",
                "-o",
                "json",
            ).stdout
            return sorted(
                (
                    e["conditions"].get("ready")
                    for s in json.loads(slices)["items"]
                    for e in s.get("endpoints") or []
                ),
                key=str,
            )

        # the broken pod is listed, unready (listed once it has an address: wait for it)
        wait_for(
            "the broken canary pod listed unready", lambda: canary_conditions() == [False, True]
        )
        seen = versions_of(client, 100)
        assert set(seen) == {"1.0.0", "1.1.0"}
        assert "mlops_router_backend_retries_total{" not in client.get("/metrics").text

        # the canary goes away: its share goes to the stable version
        devcluster.kubectl("scale", "-n", namespace, "deployment/fraud-v1-1-0", "--replicas=0")
        wait_for(
            "the canary to lose its endpoint",
            lambda: client.get("/readyz").json()["endpoints"]["1.1.0"] == 0,
        )
        assert versions_of(client, 30) == Counter({"1.0.0": 30})

        devcluster.kubectl("scale", "-n", namespace, "deployment/fraud-v1-1-0", "--replicas=1")
        wait_for(
            "the canary endpoint to return",
            lambda: client.get("/readyz").json()["endpoints"]["1.1.0"] == 1,
            timeout=120,
        )
        assert "1.1.0" in versions_of(client, 40)
