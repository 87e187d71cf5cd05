"""The chart installed with helm on the devcluster: the operator (and the REST API, where its
package exists) as pods that the node agent runs from this project's images."""

from __future__ import annotations

import base64
import importlib.util
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops_devcluster.cluster import S3_NAMESPACE, S3_SECRET, DevCluster

CHART = Path(__file__).resolve().parents[2] / "helm" / "mlops-operator"
#: the REST API ships in the operator image once its package is there
REST_API = importlib.util.find_spec("mlops_operator.rest") is not None


@dataclass
class Release:
    helm: Path
    cluster: DevCluster
    name: str
    namespace: str  # where the chart installs the operator
    workload: str  # the namespace the operator watches

    def run(self, *args: str, timeout: float = 240) -> str:
        env = self.cluster.env()
        result = subprocess.run(
            [str(self.helm), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**env, "HOME": str(self.cluster.root)},
        )
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}{result.stdout}"
        return result.stdout

    def values(self, *extra: str) -> list[str]:
        pairs = [
            f"watchNamespace={self.workload}",
            f"peering.name={self.name}-{self.workload}",
            # the Deployment (mlops.dev) of the scrape test carries a hand-written status
            "features.serving=false",
            f"rest.enabled={str(REST_API).lower()}",
            *extra,
        ]
        return [arg for pair in pairs for arg in ("--set", pair)]

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)

    def pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = self.kubectl_json(
            "get", "pods", "-n", self.namespace, "-l", selector
        )["items"]
        return items

    def wait_ready(self, component: str, *, timeout: float = 180) -> dict[str, Any]:
        """The one running, ready pod of ``component`` (a replaced pod must be gone)."""
        deadline = time.monotonic() + timeout
        while True:
            pods = [p for p in self.pods(component) if not p["metadata"].get("deletionTimestamp")]
            ready = [
                p
                for p in pods
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions", [])
                )
            ]
            if len(pods) == 1 and ready:
                return ready[0]
            assert time.monotonic() < deadline, f"no ready {component} pod: {pods}"
            time.sleep(1)


def create_namespace(cluster: DevCluster, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    return name


def copy_s3_secret(cluster: DevCluster, namespace: str) -> None:
    """The devcluster's MinIO credentials (Secret mlops-s3), as an admin would create them."""
    secret = json.loads(
        cluster.kubectl("get", "secret", S3_SECRET, "-n", S3_NAMESPACE, "-o", "json").stdout
    )
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    copy = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": S3_SECRET, "namespace": namespace},
        "stringData": data,
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(copy))


@contextmanager
def installed_release(helm: Path, cluster: DevCluster) -> Iterator[Release]:
    release = Release(
        helm,
        cluster,
        name=f"mlops-{secrets.token_hex(2)}",
        namespace=create_namespace(cluster, "mlops-system"),
        workload=create_namespace(cluster, "team"),
    )
    for namespace in (release.namespace, release.workload):
        copy_s3_secret(cluster, namespace)
    try:
        release.run(
            "install",
            release.name,
            str(CHART),
            "-n",
            release.namespace,
            *release.values(),
            "--wait",
            "--timeout",
            "180s",
        )
        yield release
    finally:
        subprocess.run(
            [str(helm), "uninstall", release.name, "-n", release.namespace, "--wait"],
            capture_output=True,
            check=False,
            timeout=120,
            env={**cluster.env(), "HOME": str(cluster.root)},
        )
        for namespace in (release.namespace, release.workload):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
