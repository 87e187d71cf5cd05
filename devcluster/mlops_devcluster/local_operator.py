"""Run the operator as a local process against a cluster, as its own ServiceAccount.

What ``mlops demo``, the end-to-end tests and the benchmark share: install the CRDs, kopf's
peering resources and the chart's RBAC rules (``helm/mlops-operator/files/rbac-rules.yaml``,
the very file the chart renders), mint a token for the operator's ServiceAccount with the
TokenRequest API, and start ``python -m mlops_operator`` with a kubeconfig holding that
token — so the operator runs with exactly the permissions the chart grants, never as admin.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, TypeVar

import yaml

from mlops_core.images import TRAINER_IMAGE
from mlops_operator import __version__
from mlops_operator.kube import Kube, Manifest

T = TypeVar("T")

OPERATOR_NAMESPACE: Final = "mlops-system"
OPERATOR_ACCOUNT: Final = "mlops-operator"
PEERING_NAME: Final = "mlops-operator"
TOKEN_SECONDS: Final = 24 * 3600
S3_SECRET: Final = "mlops-s3"  # noqa: S105 (a Secret's name, not a credential)

#: example dataset folder (examples/data/<folder>) → its place in the bucket (datasets/<key>)
EXAMPLE_DATASETS: Final = {"threat-classifier": "threat", "breast-cancer": "breast-cancer"}


def repo_root() -> Path:
    """The source checkout this package runs from (crds/, helm/ and examples/ live there)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "crds").is_dir() or not (root / "helm" / "mlops-operator").is_dir():
        raise FileNotFoundError(
            f"{root} is not an mlops-operator source checkout (no crds/ or helm/): run this "
            "from the repository"
        )
    return root


def load_documents(path: Path) -> list[Manifest]:
    docs: list[Manifest] = []
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    for file in files:
        docs += [doc for doc in yaml.safe_load_all(file.read_text()) if isinstance(doc, dict)]
    return docs


def operator_rules(root: Path | None = None) -> list[dict[str, Any]]:
    """The chart's RBAC rules for the operator."""
    path = (root or repo_root()) / "helm" / "mlops-operator" / "files" / "rbac-rules.yaml"
    rules: list[dict[str, Any]] = yaml.safe_load(path.read_text())
    return rules


def wait_for_crds(admin: Kube, names: list[str], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = admin.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            conditions = (crd or {}).get("status", {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CustomResourceDefinition {name} not established in time")
            time.sleep(0.2)


def install(admin: Kube, *, root: Path | None = None) -> None:
    """CRDs, kopf peering, the operator's ServiceAccount and its ClusterRole(Binding)."""
    root = root or repo_root()
    chart = root / "helm" / "mlops-operator"
    crds = load_documents(root / "crds") + load_documents(chart / "crds" / "kopf.dev_peerings.yaml")
    for crd in crds:
        admin.apply(crd)
    wait_for_crds(admin, [crd["metadata"]["name"] for crd in crds])
    admin.apply(
        {
            "apiVersion": "kopf.dev/v1",
            "kind": "ClusterKopfPeering",
            "metadata": {"name": PEERING_NAME},
        }
    )
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}})
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": OPERATOR_ACCOUNT, "namespace": OPERATOR_NAMESPACE},
        }
    )
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": OPERATOR_ACCOUNT},
            "rules": operator_rules(root),
        }
    )
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": OPERATOR_ACCOUNT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": OPERATOR_ACCOUNT,
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": OPERATOR_ACCOUNT,
                    "namespace": OPERATOR_NAMESPACE,
                }
            ],
        }
    )


def copy_s3_secret(admin: Kube, namespace: str) -> None:
    """Give trainer pods in ``namespace`` the S3 Secret (an admin step; the operator never
    reads or copies Secrets)."""
    secret = admin.get("v1", "Secret", S3_SECRET, OPERATOR_NAMESPACE)
    if secret is None:
        raise LookupError(f"Secret {OPERATOR_NAMESPACE}/{S3_SECRET} does not exist")
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": S3_SECRET, "namespace": namespace},
            "type": secret.get("type", "Opaque"),
            "data": secret["data"],
        }
    )


def service_account_kubeconfig(admin: Kube, *, admin_kubeconfig: Path, path: Path) -> Path:
    """A kubeconfig for the operator's ServiceAccount (a TokenRequest token), same server/CA."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
    token = admin.request_token(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, seconds=TOKEN_SECONDS)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster["cluster"]}],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": OPERATOR_ACCOUNT, "context": {"cluster": "cluster", "user": OPERATOR_ACCOUNT}}
        ],
        "current-context": OPERATOR_ACCOUNT,
    }
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path


def upload_example_datasets(
    store_uri: str, *, root: Path | None = None, client: Any = None
) -> list[str]:
    """examples/data/<folder>/*.csv → <store_uri>/datasets/<key>/ (s3://mlops for the examples)."""
    from mlops_core.storage import open_store

    data = (root or repo_root()) / "examples" / "data"
    uploaded = []
    for folder, key in EXAMPLE_DATASETS.items():
        store = open_store(f"{store_uri.rstrip('/')}/datasets/{key}", client=client)
        for file in sorted((data / folder).glob("*.csv")):
            store.write_bytes(file.name, file.read_bytes())
            uploaded.append(f"{store.uri}/{file.name}")
    return uploaded


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5
) -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OperatorProcess:
    """``python -m mlops_operator`` as a child process, with its log in a file."""

    kubeconfig: Path
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    _log: IO[bytes] | None = None

    def start(self, *, ready_timeout: float = 60.0) -> OperatorProcess:
        self.health_port = free_port()
        env = {
            **os.environ,
            "MLOPS_TRAINER_IMAGE": f"{TRAINER_IMAGE}:{__version__}",
            "MLOPS_PEERING_NAME": PEERING_NAME,
            **self.env,
            "KUBECONFIG": str(self.kubeconfig),
            "MLOPS_LIVENESS_ENDPOINT": f"http://127.0.0.1:{self.health_port}/healthz",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlops_operator"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_healthy(timeout=ready_timeout)
        return self

    def wait_healthy(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the operator exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"the operator was not healthy within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the operator gets no chance to clean up (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OperatorProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
