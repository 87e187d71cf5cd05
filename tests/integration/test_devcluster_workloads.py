"""Workloads on the devcluster: the controller-manager, scheduler and node agent together."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from mlops_devcluster.cluster import CPU_NODE, GPU_NODE, DevCluster

pytestmark = pytest.mark.integration
T = TypeVar("T")
TRAINER = "ghcr.io/mlops-dev/mlops-trainer:test"
SERVING = "ghcr.io/mlops-dev/mlops-serving:test"


def wait_for(
    what: str, fetch: Callable[[], T], done: Callable[[T], bool] = bool, timeout: float = 60.0
) -> T:
    """Poll ``fetch`` until ``done`` holds for its value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {value!r}")
        time.sleep(0.2)


def get(cluster: DevCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", "-o", "json", *args).stdout)


def pods(cluster: DevCluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get(cluster, "pods", "-n", namespace, "-l", selector)["items"]
    return items


def test_job_runs_to_completion(devcluster: DevCluster, namespace: str) -> None:
    job = f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: square, namespace: {namespace}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {TRAINER}
        command: [python, -c]
        args:
        - |
          import json
          print("squares", [n * n for n in range(5)])
          with open("/dev/termination-log", "w") as f:
              json.dump({{"result": 16}}, f)
"""
    devcluster.kubectl("apply", "-f", "-", input=job)
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/square", "--timeout=60s"
    )
    (pod,) = pods(devcluster, namespace, "job-name=square")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"]) == {"result": 16}
    log = devcluster.layout.pod_logs.glob(f"{namespace}_{pod['metadata']['name']}_*/main/0.log")
    assert "squares [0, 1, 4, 9, 16]" in next(log).read_text()


def _deployment(namespace: str, name: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: {SERVING}
        command: [python, -m, http.server, "8080", --bind, $(POD_IP)]
        ports: [{{name: http, containerPort: 8080}}]
        env:
        - name: POD_IP
          valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 8080, targetPort: http}}]
"""


def _http_ok(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:8080/", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _slice_addresses(cluster: DevCluster, namespace: str, service: str) -> set[str]:
    slices = get(
        cluster, "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}"
    )["items"]
    return {
        address
        for s in slices
        for endpoint in s.get("endpoints") or []
        if endpoint.get("conditions", {}).get("ready")
        for address in endpoint["addresses"]
    }


def test_deployment_gets_ready_pods_and_endpointslices(
    devcluster: DevCluster, namespace: str
) -> None:
    devcluster.kubectl("apply", "-f", "-", input=_deployment(namespace, "web", 3))
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s")
    ips = {p["status"]["podIP"] for p in pods(devcluster, namespace, "app=web")}
    assert len(ips) == 3, "every pod gets its own address"
    addresses = wait_for(
        "3 ready endpoints",
        lambda: _slice_addresses(devcluster, namespace, "web"),
        lambda found: len(found) == 3,
    )
    assert addresses == ips
    assert all(_http_ok(address) for address in addresses), "all listen on the same port"


def test_deleting_the_owner_collects_its_children(devcluster: DevCluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-f", "-", input=_deployment(namespace, "gc", 1))
    devcluster.kubectl("rollout", "status", "-n", namespace, "deployment/gc", "--timeout=60s")
    (pod,) = pods(devcluster, namespace, "app=gc")
    address = pod["status"]["podIP"]
    assert _http_ok(address)
    devcluster.kubectl("delete", "-n", namespace, "deployment/gc", "--wait=false")
    wait_for(
        "ReplicaSet and pods to be collected",
        lambda: not get(devcluster, "replicasets,pods", "-n", namespace, "-l", "app=gc")["items"],
    )
    wait_for("the pod's server to stop", lambda: not _http_ok(address), timeout=10)


def _pod(namespace: str, name: str, *, gpu: bool, tolerate: bool) -> str:
    resources = "resources: {limits: {nvidia.com/gpu: 1}}" if gpu else ""
    tolerations = (
        "tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]"
        if tolerate
        else ""
    )
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  restartPolicy: Never
  {tolerations}
  containers:
  - name: main
    image: {TRAINER}
    command: [sleep, "0.2"]
    {resources}
---
"""


def test_gpu_pods_land_only_on_the_gpu_node(devcluster: DevCluster, namespace: str) -> None:
    manifests = _pod(namespace, "wants-gpu", gpu=True, tolerate=True)
    manifests += _pod(namespace, "gpu-no-toleration", gpu=True, tolerate=False)
    for index in range(4):
        manifests += _pod(namespace, f"plain-{index}", gpu=False, tolerate=False)
    devcluster.kubectl("apply", "-f", "-", input=manifests)

    def placed() -> dict[str, str] | None:
        items = get(devcluster, "pods", "-n", namespace)["items"]
        nodes = {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in items}
        return nodes if sum(1 for n in nodes.values() if n) == 5 else None

    nodes = wait_for("5 pods to be scheduled", placed)
    assert nodes["wants-gpu"] == GPU_NODE
    assert all(nodes[f"plain-{i}"] == CPU_NODE for i in range(4))
    assert nodes["gpu-no-toleration"] == "", "the GPU taint keeps it off the GPU node"

    def scheduled_condition() -> dict[str, str]:
        pending = get(devcluster, "pod", "-n", namespace, "gpu-no-toleration")
        conditions = pending["status"].get("conditions", [])
        return next((c for c in conditions if c["type"] == "PodScheduled"), {})

    scheduled = wait_for("the scheduler's verdict", scheduled_condition)
    assert scheduled["reason"] == "Unschedulable"
    assert "nvidia.com/gpu" in scheduled["message"]


def test_pod_of_an_unknown_image_fails_with_a_reason(
    devcluster: DevCluster, namespace: str
) -> None:
    devcluster.kubectl(
        "run",
        "-n",
        namespace,
        "stranger",
        "--image=docker.io/library/nginx:1.27",
        "--restart=Never",
    )
    pod = wait_for(
        "the pod to fail",
        lambda: get(devcluster, "pod", "-n", namespace, "stranger"),
        lambda p: p["status"].get("phase") == "Failed",
    )
    assert pod["status"]["reason"] == "UnknownImage"
    assert "docker.io/library/nginx:1.27" in pod["status"]["message"]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImageNeverPull"


def test_indexed_job_pods_find_each_other_by_hostname(
    devcluster: DevCluster, namespace: str
) -> None:
    """The rendezvous of distributed training: pod 1 reaches pod 0 at
    ``<job>-0.<subdomain>.<namespace>.svc``, as cluster DNS would resolve it."""
    manifests = f"""
apiVersion: v1
kind: Service
metadata: {{name: ring, namespace: {namespace}}}
spec:
  clusterIP: None
  selector: {{job-name: ring}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: ring, namespace: {namespace}}}
spec:
  completionMode: Indexed
  completions: 2
  parallelism: 2
  backoffLimit: 0
  template:
    spec:
      subdomain: ring
      restartPolicy: Never
      containers:
      - name: main
        image: {TRAINER}
        env:
        - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        - {{name: MASTER_ADDR, value: ring-0.ring.{namespace}.svc}}
        command: [python, -c]
        args:
        - |
          import os, socket, time
          if os.environ["JOB_COMPLETION_INDEX"] == "0":
              server = socket.create_server((os.environ["POD_IP"], 29500))
              connection, _ = server.accept()
              message = connection.recv(100).decode()
              open("/dev/termination-log", "w").write(message)
          else:
              deadline = time.monotonic() + 30
              while True:
                  try:
                      with socket.create_connection((os.environ["MASTER_ADDR"], 29500)) as c:
                          c.sendall(f"hello from {{socket.gethostname()}}".encode())
                      break
                  except OSError:
                      if time.monotonic() > deadline:
                          raise
                      time.sleep(0.2)
"""
    devcluster.kubectl("apply", "-f", "-", input=manifests)
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/ring", "--timeout=60s"
    )
    (first,) = pods(devcluster, namespace, "batch.kubernetes.io/job-completion-index=0")
    terminated = first["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == "hello from ring-1"
