"""What the node agent does for a single pod: environment, volumes, restarts, probes, deletion."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration
T = TypeVar("T")
TRAINER = "ghcr.io/mlops-dev/mlops-trainer:test"


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


def get_pod(cluster: DevCluster, namespace: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = json.loads(
        cluster.kubectl("get", "pod", "-n", namespace, name, "-o", "json").stdout
    )
    return pod


def finished(cluster: DevCluster, namespace: str, name: str, timeout: float = 60) -> Any:
    return wait_for(
        f"pod {name} to finish",
        lambda: get_pod(cluster, namespace, name),
        lambda p: p["status"].get("phase") in ("Succeeded", "Failed"),
        timeout,
    )


def container_state(pod: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = pod["status"]["containerStatuses"][0]["state"]
    return state


def log_of(cluster: DevCluster, namespace: str, pod: str, *extra: str, check: bool = True) -> str:
    """The log through ``python -m mlops_devcluster logs`` (the CLI a user runs)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_devcluster",
            "--dir",
            str(cluster.root),
            "logs",
            "-n",
            namespace,
            pod,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=check,
    ).stdout


def test_environment_volumes_and_in_cluster_identity(
    devcluster: DevCluster, namespace: str
) -> None:
    manifests = f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {namespace}}}
stringData: {{password: s3cret, AWS_ACCESS_KEY_ID: key-id}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {namespace}}}
data: {{mode: fast, LEVEL: debug}}
---
apiVersion: v1
kind: Pod
metadata: {{name: env, namespace: {namespace}, labels: {{team: vision}}}}
spec:
  restartPolicy: Never
  volumes: [{{name: scratch, emptyDir: {{}}}}]
  initContainers:
  - name: seed
    image: {TRAINER}
    command: [sh, -c, "echo seeded > /scratch/seed.txt"]
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
  containers:
  - name: main
    image: {TRAINER}
    command: [python, -c]
    args:
    - |
      import json, os
      from kubernetes import client, config
      config.load_incluster_config()
      review = client.AuthenticationV1Api().create_self_subject_review({{}})
      keys = ["POD_IP", "POD_NAME", "TEAM", "PASSWORD", "MODE", "CFG_LEVEL", "AWS_ACCESS_KEY_ID",
              "GREETING", "KUBERNETES_SERVICE_HOST"]
      out = {{k: os.environ.get(k) for k in keys}}
      out["user"] = review.status.user_info.username
      out["seed"] = open("/scratch/seed.txt").read().strip()
      open("/dev/termination-log", "w").write(json.dumps(out))
    envFrom:
    - secretRef: {{name: creds}}
    - configMapRef: {{name: settings}}
      prefix: CFG_
    env:
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: TEAM, valueFrom: {{fieldRef: {{fieldPath: "metadata.labels['team']"}}}}}}
    - {{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}}}
    - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: settings, key: mode}}}}}}
    - {{name: GREETING, value: "hello $(POD_NAME)"}}
    volumeMounts: [{{name: scratch, mountPath: /scratch}}]
"""
    devcluster.kubectl("apply", "-f", "-", input=manifests)
    pod = finished(devcluster, namespace, "env")
    assert pod["status"]["phase"] == "Succeeded", log_of(devcluster, namespace, "env", "-c", "main")
    out = json.loads(container_state(pod)["terminated"]["message"])
    assert out == {
        "POD_IP": pod["status"]["podIP"],
        "POD_NAME": "env",
        "TEAM": "vision",
        "PASSWORD": "s3cret",
        "MODE": "fast",
        "CFG_LEVEL": "debug",
        "AWS_ACCESS_KEY_ID": "key-id",
        "GREETING": "hello env",
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "user": f"system:serviceaccount:{namespace}:default",
        "seed": "seeded",
    }


def test_exit_code_and_fallback_termination_message(devcluster: DevCluster, namespace: str) -> None:
    devcluster.kubectl(
        "run",
        "-n",
        namespace,
        "crash",
        f"--image={TRAINER}",
        "--restart=Never",
        "--overrides",
        json.dumps(
            {
                "spec": {
                    "containers": [
                        {
                            "name": "crash",
                            "image": TRAINER,
                            "command": ["sh", "-c", "echo about to fail; exit 3"],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ]
                }
            }
        ),
    )
    pod = finished(devcluster, namespace, "crash")
    assert pod["status"]["phase"] == "Failed"
    terminated = container_state(pod)["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert terminated["message"].strip() == "about to fail"
    through_api = devcluster.kubectl("logs", "-n", namespace, "crash", "--tail=1").stdout
    assert through_api == "about to fail\n", "kubectl logs reaches the node agent"


def test_on_failure_restarts_until_success(devcluster: DevCluster, namespace: str) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: flaky, namespace: {namespace}}}
spec:
  restartPolicy: OnFailure
  volumes: [{{name: state, emptyDir: {{}}}}]
  containers:
  - name: main
    image: {TRAINER}
    command: [sh, -c]
    args:
    - |
      if [ -e /state/tried ]; then echo second; exit 0; fi
      touch /state/tried; echo first; exit 1
    volumeMounts: [{{name: state, mountPath: /state}}]
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, "flaky")
    assert pod["status"]["phase"] == "Succeeded"
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert log_of(devcluster, namespace, "flaky").strip() == "second"
    assert log_of(devcluster, namespace, "flaky", "--previous").strip() == "first"


def test_failing_liveness_probe_restarts_the_container(
    devcluster: DevCluster, namespace: str
) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: sick, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {TRAINER}
    command: [sleep, "300"]
    livenessProbe:
      httpGet: {{path: /healthz, port: 9999}}
      periodSeconds: 1
      failureThreshold: 2
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = wait_for(
        "a restart",
        lambda: get_pod(devcluster, namespace, "sick"),
        lambda p: p["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1,
        timeout=30,
    )
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] in (137, 143)


def test_graceful_deletion_sends_sigterm_then_sigkill(
    devcluster: DevCluster, namespace: str
) -> None:
    graceful = f"""
apiVersion: v1
kind: Pod
metadata: {{name: polite, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: {TRAINER}
    command: [python, -c]
    args:
    - |
      import signal, sys, time
      def bye(*_):
          print("got SIGTERM", flush=True)
          sys.exit(0)
      signal.signal(signal.SIGTERM, bye)
      print("serving", flush=True)
      time.sleep(300)
---
apiVersion: v1
kind: Pod
metadata: {{name: stubborn, namespace: {namespace}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {TRAINER}
    command: [python, -c]
    args:
    - |
      import signal, time
      signal.signal(signal.SIGTERM, signal.SIG_IGN)
      print("ready", flush=True)
      time.sleep(300)
"""
    devcluster.kubectl("apply", "-f", "-", input=graceful)
    for name in ("polite", "stubborn"):
        wait_for(
            f"{name} to run",
            lambda n=name: (
                {"ready", "serving"} & set(log_of(devcluster, namespace, n, check=False).split())
            ),
        )
    started = time.monotonic()
    devcluster.kubectl("delete", "pod", "-n", namespace, "polite", "stubborn", "--timeout=30s")
    elapsed = time.monotonic() - started
    assert elapsed < 19, "polite exits on SIGTERM before its 20 s grace period"
    assert "got SIGTERM" in log_of(devcluster, namespace, "polite")
    assert elapsed >= 1, "stubborn ignores SIGTERM and is killed after its 1 s grace period"


def test_active_deadline_fails_a_running_pod(devcluster: DevCluster, namespace: str) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: slow, namespace: {namespace}}}
spec:
  activeDeadlineSeconds: 2
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: main
    image: {TRAINER}
    command: [sleep, "60"]
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, "slow", timeout=30)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert container_state(pod)["terminated"]["exitCode"] == 143


def test_pod_waits_for_a_missing_secret_then_starts(devcluster: DevCluster, namespace: str) -> None:
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: patient, namespace: {namespace}}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {TRAINER}
    command: [sh, -c, 'echo "token=$TOKEN"']
    env:
    - {{name: TOKEN, valueFrom: {{secretKeyRef: {{name: late, key: token}}}}}}
"""
    devcluster.kubectl("apply", "-f", "-", input=pod)
    waiting = wait_for(
        "the pod to wait for its Secret",
        lambda: get_pod(devcluster, namespace, "patient"),
        lambda p: (
            (p["status"].get("containerStatuses") or [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "CreateContainerConfigError"
        ),
    )
    state = container_state(waiting)["waiting"]
    assert state["reason"] == "CreateContainerConfigError"
    assert 'secret "late" not found' in state["message"]
    devcluster.kubectl(
        "create", "secret", "generic", "late", "-n", namespace, "--from-literal=token=abc"
    )
    done = finished(devcluster, namespace, "patient")
    assert done["status"]["phase"] == "Succeeded"
    assert log_of(devcluster, namespace, "patient").strip() == "token=abc"


def test_following_logs_ends_with_the_container(devcluster: DevCluster, namespace: str) -> None:
    devcluster.kubectl(
        "run",
        "-n",
        namespace,
        "ticker",
        f"--image={TRAINER}",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.5; done",
    )
    wait_for("the first line", lambda: log_of(devcluster, namespace, "ticker", check=False))
    cli_follow = log_of(devcluster, namespace, "ticker", "--follow")
    assert cli_follow.split("\n")[:3] == ["tick 1", "tick 2", "tick 3"]
    api_follow = devcluster.kubectl("logs", "-n", namespace, "ticker", "--follow").stdout
    assert api_follow == "tick 1\ntick 2\ntick 3\n"
