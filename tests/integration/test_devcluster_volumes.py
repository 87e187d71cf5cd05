"""Pods whose volumes cover the node agent's own folders: an emptyDir at /tmp (every pod with a
read-only root file system), a memory emptyDir at /dev/shm (DDP trainers), a configMap nested
under /tmp, and the service-account token, in a namespace that enforces the restricted profile."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from test_devcluster_pods import container_state, finished, get_pod, log_of, wait_for

from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration
TRAINER = "ghcr.io/mlops-dev/mlops-trainer:test"

RESTRICTED_CONTAINER = """
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}"""

POD_SECURITY = """
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    seccompProfile: {type: RuntimeDefault}"""


def _restrict(devcluster: DevCluster, namespace: str) -> None:
    devcluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )


def test_restricted_namespace_rejects_a_pod_that_does_not_comply(
    devcluster: DevCluster, namespace: str
) -> None:
    """The label is enforced by the API server, so the pod below is admitted on its merits."""
    _restrict(devcluster, namespace)
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: loose, namespace: {namespace}}}
spec:
  containers: [{{name: main, image: {TRAINER}, command: ["true"]}}]
"""
    result = devcluster.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr


def test_read_only_root_pod_with_tmp_shm_config_and_token_volumes_completes(
    devcluster: DevCluster, namespace: str
) -> None:
    _restrict(devcluster, namespace)
    marker = f"written-by-pod-{secrets.token_hex(4)}"
    script = f"""
import json, os, pathlib
sa = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
pathlib.Path("/tmp/{marker}").write_text("tmp")
pathlib.Path("/dev/shm/{marker}").write_text("shm")
out = {{
    "tmp": sorted(os.listdir("/tmp")),
    "shm": open("/dev/shm/{marker}").read(),
    "threshold": open("/tmp/config/threshold").read(),
    "token_parts": len((sa / "token").read_text().split(".")),
    "namespace": (sa / "namespace").read_text(),
    "ca": (sa / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----"),
}}
open("/dev/termination-log", "w").write(json.dumps(out))
"""
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {namespace}}}
data: {{threshold: "0.75"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: readonly, namespace: {namespace}}}
spec:
  restartPolicy: Never{POD_SECURITY}
  volumes:
  - {{name: tmp, emptyDir: {{}}}}
  - {{name: shm, emptyDir: {{medium: Memory, sizeLimit: 64Mi}}}}
  - {{name: settings, configMap: {{name: settings}}}}
  containers:
  - name: main
    image: {TRAINER}
    command: [python, -c, {json.dumps(script)}]{RESTRICTED_CONTAINER}
    volumeMounts:
    - {{name: settings, mountPath: /tmp/config, readOnly: true}}
    - {{name: tmp, mountPath: /tmp}}
    - {{name: shm, mountPath: /dev/shm}}
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, "readonly")
    logs = log_of(devcluster, namespace, "readonly", check=False)
    assert pod["status"]["phase"] == "Succeeded", logs
    out = json.loads(container_state(pod)["terminated"]["message"])
    assert out == {
        "tmp": sorted(["config", marker]),
        "shm": "shm",
        "threshold": "0.75",
        "token_parts": 3,
        "namespace": namespace,
        "ca": True,
    }
    # the writes landed in the pod's volumes, not in the host's /tmp and /dev/shm
    assert not Path("/tmp", marker).exists()
    assert not Path("/dev/shm", marker).exists()
    volumes = devcluster.root / "pods" / pod["metadata"]["uid"] / "volumes"
    assert (volumes / "tmp" / marker).read_text() == "tmp"
    assert (volumes / "shm" / marker).read_text() == "shm"
    # and they go with the pod, as on a kubelet
    devcluster.kubectl("delete", "pod", "-n", namespace, "readonly", "--wait=true")
    wait_for("the pod folder to go", lambda: not volumes.parent.exists(), timeout=10)


def test_a_mount_over_the_state_folder_still_gets_every_volume(
    devcluster: DevCluster, namespace: str
) -> None:
    """An emptyDir mounted exactly at the devcluster's state folder hides every pod's source
    folders; the secret volume and the termination log must still arrive."""
    manifest = f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {namespace}}}
stringData: {{password: s3cret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: cover, namespace: {namespace}}}
spec:
  restartPolicy: Never
  volumes:
  - {{name: cover, emptyDir: {{}}}}
  - {{name: creds, secret: {{secretName: creds}}}}
  containers:
  - name: main
    image: {TRAINER}
    command: [sh, -c, 'echo "$(cat /creds/password) $(ls "$0" | wc -l)" > /dev/termination-log']
    args: [{json.dumps(str(devcluster.root))}]
    volumeMounts:
    - {{name: cover, mountPath: {json.dumps(str(devcluster.root))}}}
    - {{name: creds, mountPath: /creds}}
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, "cover")
    assert pod["status"]["phase"] == "Succeeded", log_of(devcluster, namespace, "cover")
    assert container_state(pod)["terminated"]["message"].strip() == "s3cret 0"


CHECKOUT = Path(__file__).resolve().parents[2]


def test_python_comes_from_opt_mlops_when_volumes_cover_the_checkout_and_tmp(
    devcluster: DevCluster, namespace: str
) -> None:
    """The host's virtual environment lives in the checkout (under /tmp in a fresh clone):
    covered by volumes, pods still run this project's Python, and exec probes see what the
    container sees."""
    _restrict(devcluster, namespace)
    script = """
import json, os, sys, time, mlops_core, mlops_trainer
deadline = time.monotonic() + 30
while not os.path.exists("/tmp/probed") and time.monotonic() < deadline:
    time.sleep(0.1)
out = {"prefix": sys.prefix, "core": mlops_core.__file__, "probed": os.path.exists("/tmp/probed"),
       "checkout": os.listdir(sys.argv[1])}
open("/dev/termination-log", "w").write(json.dumps(out))
"""
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: covered, namespace: {namespace}}}
spec:
  restartPolicy: Never{POD_SECURITY}
  volumes:
  - {{name: tmp, emptyDir: {{}}}}
  - {{name: checkout, emptyDir: {{}}}}
  containers:
  - name: main
    image: {TRAINER}
    command: [python, -c, {json.dumps(script)}, {json.dumps(str(CHECKOUT))}]{RESTRICTED_CONTAINER}
    readinessProbe:
      exec: {{command: [python, -c, "open('/tmp/probed', 'w').close()"]}}
      periodSeconds: 1
    volumeMounts:
    - {{name: tmp, mountPath: /tmp}}
    - {{name: checkout, mountPath: {json.dumps(str(CHECKOUT))}}}
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, "covered")
    assert pod["status"]["phase"] == "Succeeded", log_of(devcluster, namespace, "covered")
    out = json.loads(container_state(pod)["terminated"]["message"])
    assert out == {
        "prefix": "/opt/mlops/venv",
        "core": "/opt/mlops/src/core/mlops_core/__init__.py",
        "probed": True,
        "checkout": [],
    }


def test_a_volume_over_opt_mlops_is_refused_with_the_reason(
    devcluster: DevCluster, namespace: str
) -> None:
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: shadow, namespace: {namespace}}}
spec:
  restartPolicy: Never
  volumes: [{{name: cache, emptyDir: {{}}}}]
  containers:
  - name: main
    image: {TRAINER}
    command: ["true"]
    volumeMounts: [{{name: cache, mountPath: /opt/mlops/venv}}]
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    waiting = wait_for(
        "the container to wait with a reason",
        lambda: (
            get_pod(devcluster, namespace, "shadow")["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
        ),
        lambda state: state.get("reason") == "CreateContainerConfigError",
        timeout=30,
    )
    assert "mountPath /opt/mlops/venv would cover /opt/mlops" in waiting["message"]
