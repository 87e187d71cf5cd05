"""What the Deployment end-to-end tests share: a namespace under the restricted Pod Security
profile with trained versions of the breast-cancer example, the operator serving it, the
examples as variants, and a client that sends predictions the whole time."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml
from e2e_support import tabular_model

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import OperatorProcess, copy_s3_secret, wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = "breast-cancer"
FEATURES = [
    17.99, 10.38, 122.8, 1001, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
    1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
    25.38, 17.33, 184.6, 2019, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
]  # fmt: skip


@contextlib.contextmanager
def restricted_namespace(admin: Kube, prefix: str) -> Iterator[str]:
    """A fresh namespace under the restricted Pod Security profile, holding the S3 Secret the
    pods read; deleted afterwards."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    admin.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )
    wait_until(
        lambda: admin.get("v1", "ServiceAccount", "default", name),
        timeout=30,
        what="the namespace's default ServiceAccount",
    )
    copy_s3_secret(admin, name)
    try:
        yield name
    finally:
        admin.delete("v1", "Namespace", name)


class ServingOperator:
    """The module's operator, serving with one router replica and a short drain; restartable
    after a SIGKILL."""

    def __init__(self, devcluster: DevCluster, kubeconfig: Path, log: Path) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.env = {
            **devcluster.s3_env(),
            "MLOPS_PEERING_LIFETIME_SECONDS": "5",
            "USE_MLOPS_SERVING": "true",
            "MLOPS_ROUTER_REPLICAS": "1",
            "MLOPS_DRAIN_SECONDS": "2",
        }
        self.process: OperatorProcess | None = None

    def start(self) -> None:
        self.process = OperatorProcess(kubeconfig=self.kubeconfig, log_path=self.log, env=self.env)
        self.process.start()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@contextlib.contextmanager
def serving_operator(
    devcluster: DevCluster, kubeconfig: Path, log: Path
) -> Iterator[ServingOperator]:
    """The operator started for a module's Deployments; stopped afterwards."""
    started = ServingOperator(devcluster, kubeconfig, log)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def train_ready_versions(
    devcluster: DevCluster,
    admin: Kube,
    namespace: str,
    jobs: Mapping[str, dict[str, Any]],
    *,
    timeout: float,
) -> None:
    """The breast-cancer Model and one TrainingJob per version (``jobs``: version → manifest)
    applied; back once every version's ModelVersion is Ready."""
    manifests = [tabular_model(), *jobs.values()]
    devcluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )

    def ready() -> bool:
        found = set()
        for mv in admin.list(API_VERSION, "ModelVersion", namespace):
            conditions = (mv.get("status") or {}).get("conditions") or []
            if mv["spec"]["model"] == MODEL and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions
            ):
                found.add(mv["spec"]["version"])
        return set(jobs) <= found

    what = f"{len(jobs)} Ready ModelVersions ({', '.join(jobs)})"
    wait_until(ready, timeout=timeout, what=what, interval=1)


def example(name: str, *, deployment: str, **spec: Any) -> dict[str, Any]:
    """examples/deployments/<name>.yaml, for the breast-cancer model and short intervals."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "deployments" / name).read_text())
    body["metadata"]["name"] = deployment
    body["spec"]["model"] = MODEL
    body["spec"]["replicas"] = 1
    body["spec"]["resources"] = {"cpu": "250m", "memory": "1Gi"}
    body["spec"].pop("alerts", None)
    body["spec"]["strategy"].pop("mirror", None)
    for key, value in spec.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return body


def apply(devcluster: DevCluster, namespace: str, body: dict[str, Any]) -> None:
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def status(admin: Kube, namespace: str, name: str) -> dict[str, Any]:
    body = admin.get(API_VERSION, "Deployment", name, namespace) or {}
    return dict(body.get("status") or {})


def condition(admin: Kube, namespace: str, name: str, kind: str) -> dict[str, Any]:
    return next(
        (c for c in status(admin, namespace, name).get("conditions", []) if c["type"] == kind), {}
    )


def wait_status(
    admin: Kube, namespace: str, name: str, check: Any, *, timeout: float, what: str
) -> dict[str, Any]:
    """The status once ``check`` holds; on a timeout the error shows the last status."""
    try:
        return wait_until(
            lambda: (s := status(admin, namespace, name)) and check(s) and s,
            timeout=timeout,
            what=what,
            interval=0.2,
        )
    except TimeoutError as exc:
        last = json.dumps(status(admin, namespace, name), indent=1)[:3000]
        raise TimeoutError(f"{exc}; the last status of {name}:\n{last}") from None


def wait_ready(admin: Kube, namespace: str, name: str, *, timeout: float, what: str) -> None:
    """Until the Deployment says ``Ready=True`` for its current generation, looked at every
    50 ms: a caller sends right after it, as ``kubectl wait --for=condition=Ready`` would."""

    def ready() -> bool:
        body = admin.get(API_VERSION, "Deployment", name, namespace) or {}
        generation = body.get("metadata", {}).get("generation")
        return any(
            c["type"] == "Ready"
            and c["status"] == "True"
            and c.get("observedGeneration") == generation
            for c in (body.get("status") or {}).get("conditions", [])
        )

    try:
        wait_until(ready, timeout=timeout, what=what, interval=0.05)
    except TimeoutError as exc:
        last = json.dumps(status(admin, namespace, name), indent=1)[:3000]
        pods = [
            (p["metadata"]["name"], (p.get("status") or {}).get("phase"))
            for p in admin.list("v1", "Pod", namespace)
        ]
        raise TimeoutError(f"{exc}; the last status of {name}:\n{last}\npods: {pods}") from None


def stable_address(admin: Kube, namespace: str, name: str) -> str:
    """The stable endpoint (the router Service's ClusterIP, port 80), as the devcluster's host
    reaches it: through the same Service proxy the pods' requests go through."""
    service = admin.get("v1", "Service", name, namespace)
    assert service is not None, f"no router Service {namespace}/{name}"
    return f"{service['spec']['clusterIP']}:80"


def answers_at_once(address: str, count: int = 30) -> list[tuple[int, str]]:
    """``count`` predictions sent one after another without a pause, as a client that waited
    for Ready sends: every answer, so that a failure shows what it was."""
    return [predict(address, timeout=5) for _ in range(count)]


def router_address(admin: Kube, namespace: str, name: str) -> str:
    """The router pod's address (the devcluster's host reaches pod IPs)."""

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

    return wait_until(ready, timeout=90, what=f"a ready router pod of {name}")


def server_address(admin: Kube, namespace: str, name: str, version: str) -> str:
    """The ready server pod of one version of Deployment ``name``."""
    selector = (
        f"mlops.dev/deployment={name},app.kubernetes.io/component=serving,"
        f"mlops.dev/version={version}"
    )

    def ready() -> str | None:
        for pod in admin.list("v1", "Pod", namespace, label_selector=selector):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return f"{pod['status']['podIP']}:8080"
        return None

    return wait_until(ready, timeout=90, what=f"a ready server pod of {name} {version}")


def server_predictions(address: str, version: str) -> int:
    """Predictions a server pod made for ``version`` (its own ``ml_predictions_total``)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in lines
        if line.startswith("ml_predictions_total{") and f'version="{version}"' in line
    )


def router_endpoints(address: str) -> dict[str, int]:
    """Ready endpoints the router knows per version (its ``/readyz``), e.g. a mirror's."""
    try:
        with urllib.request.urlopen(f"http://{address}/readyz", timeout=5) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return {str(k): int(v) for k, v in (body.get("endpoints") or {}).items()}


def mirror_copies(address: str, version: str) -> dict[str, int]:
    """The router's shadow copies to ``version`` by outcome (ok, error, dropped)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    found: dict[str, int] = {}
    for line in lines:
        if (
            line.startswith("mlops_router_mirror_requests_total{")
            and f'version="{version}"' in line
        ):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0) + int(float(line.rsplit(" ", 1)[1]))
    return found


def router_requests(admin: Kube, namespace: str, name: str) -> int:
    """Requests the router pod has answered (its own counters)."""
    with urllib.request.urlopen(
        f"http://{router_address(admin, namespace, name)}/metrics", timeout=5
    ) as answer:
        lines = answer.read().decode().splitlines()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in lines
        if line.startswith("mlops_router_requests_total{")
    )


def predict(address: str, *, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://{address}/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": [FEATURES]}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("x-mlops-version", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-mlops-version", "")
    except OSError as exc:
        return 0, str(exc)


class Repeating:
    """A thread that calls ``once`` every ``pause`` seconds for as long as the ``with`` block
    runs: the background traffic of a test."""

    pause: float = 0.02

    def once(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.once()
            time.sleep(self.pause)


@dataclass
class Load(Repeating):
    """Requests sent one after another from a thread, counted by outcome and version."""

    address: str
    pause: float = 0.01
    versions: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[int, str]] = field(default_factory=list)

    def once(self) -> None:
        code, version = predict(self.address)
        if code == 200:
            self.versions[version] += 1
        else:
            self.failures.append((code, version))

    @property
    def sent(self) -> int:
        return sum(self.versions.values()) + len(self.failures)


#: a client in a pod: predictions by Service name, one after another, until the new version has
#: answered alone for ``settle`` seconds (or ``limit`` seconds passed); a summary in its
#: termination message
POD_CLIENT = """
import json, sys, time, urllib.error, urllib.request
url, new, settle, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
body = json.dumps({"instances": [%(row)s]}).encode()
versions, failures, since, start = {}, [], None, time.monotonic()
while time.monotonic() - start < limit:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            version = answer.headers.get("x-mlops-version", "")
            versions[version] = versions.get(version, 0) + 1
    except Exception as exc:
        failures.append(repr(exc)[:200])
        version = None
    if version == new:
        since = since or time.monotonic()
        if time.monotonic() - since >= settle:
            break
    else:
        since = None
    time.sleep(0.01)
out = {"versions": versions, "failed": len(failures), "failures": failures[:5]}
open("/dev/termination-log", "w").write(json.dumps(out))
"""


def client_pod(namespace: str, name: str, url: str, *, new: str, settle: float) -> dict[str, Any]:
    """A pod (restricted profile) that sends predictions to ``url`` until ``new`` answers."""
    script = POD_CLIENT % {"row": json.dumps(FEATURES)}
    restricted = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "client",
                    "image": "ghcr.io/mlops-dev/mlops-trainer:e2e",
                    "command": ["python", "-c", script, url, new, str(settle), "120"],
                    "securityContext": restricted,
                }
            ],
        },
    }


def pod_result(admin: Kube, namespace: str, name: str, *, timeout: float) -> dict[str, Any]:
    """The client pod's summary once it has finished."""

    def done() -> dict[str, Any] | None:
        pod = admin.get("v1", "Pod", name, namespace) or {}
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            return None
        return pod

    pod = wait_until(done, timeout=timeout, what=f"pod {name} to finish", interval=0.5)
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded", state
    result: dict[str, Any] = json.loads(state["message"])
    return result


def pod_running(admin: Kube, namespace: str, name: str) -> bool:
    pod = admin.get("v1", "Pod", name, namespace) or {}
    return (pod.get("status") or {}).get("phase") == "Running"
