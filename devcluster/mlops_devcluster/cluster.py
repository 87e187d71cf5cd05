"""A handle on a running devcluster: where its kubeconfig, binaries and MinIO are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mlops_devcluster.binaries import Binaries
from mlops_devcluster.kube import Kube, ssl_context
from mlops_devcluster.layout import Layout
from mlops_devcluster.pki import ADMIN, Pki
from mlops_devcluster.ports import HOST, Ports

BUCKET: Final = "mlops"
S3_NAMESPACE: Final = "mlops-system"
S3_SECRET: Final = "mlops-s3"  # noqa: S105 (a Secret name, not a password)
CPU_NODE: Final = "devcluster-cpu"
GPU_NODE: Final = "devcluster-gpu"
#: the service range of state folders made before each cluster had its own (no Service routing)
LEGACY_SERVICE_CIDR: Final = "10.96.0.0/16"


class NotRunningError(RuntimeError):
    """No devcluster is set up in the state folder."""


class KubectlError(subprocess.CalledProcessError):
    """``kubectl`` failed; unlike its base class, the message carries kubectl's stderr."""

    def __str__(self) -> str:
        command = " ".join(str(part) for part in self.cmd[2:])
        return f"kubectl {command} exited {self.returncode}: {str(self.stderr).strip()}"


@dataclass(frozen=True)
class ClusterConfig:
    """What ``up`` chose: ports, binaries, the MinIO credentials and the Service address range
    (``cluster.json``)."""

    ports: Ports
    binaries: Binaries
    s3_access_key: str
    s3_secret_key: str
    service_cidr: str = LEGACY_SERVICE_CIDR

    def to_json(self) -> dict[str, Any]:
        return {
            "ports": self.ports.to_json(),
            "binaries": self.binaries.to_json(),
            "s3AccessKey": self.s3_access_key,
            "s3SecretKey": self.s3_secret_key,
            "serviceCidr": self.service_cidr,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterConfig:
        return cls(
            ports=Ports.from_json(data["ports"]),
            binaries=Binaries.from_json(data["binaries"]),
            s3_access_key=data["s3AccessKey"],
            s3_secret_key=data["s3SecretKey"],
            service_cidr=data.get("serviceCidr", LEGACY_SERVICE_CIDR),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> ClusterConfig:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise NotRunningError(
                f"no devcluster in {path.parent}: start one with `mlops devcluster up`"
            ) from None


class DevCluster:
    """A devcluster in a state folder (see :func:`mlops_devcluster.lifecycle.up`)."""

    def __init__(self, layout: Layout, config: ClusterConfig) -> None:
        self.layout = layout
        self.config = config

    @classmethod
    def load(cls, root: Path) -> DevCluster:
        layout = Layout(root)
        return cls(layout, ClusterConfig.load(layout.config_file))

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    @property
    def server(self) -> str:
        return f"https://{HOST}:{self.config.ports.apiserver}"

    @property
    def bin_dir(self) -> Path:
        """The folder of the pinned ``kubectl`` (put it first on PATH)."""
        return self.config.binaries.kubectl.parent

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.config.ports.minio}"

    @property
    def s3_access_key(self) -> str:
        return self.config.s3_access_key

    @property
    def s3_secret_key(self) -> str:
        return self.config.s3_secret_key

    @property
    def bucket(self) -> str:
        return BUCKET

    def s3_env(self) -> dict[str, str]:
        """The AWS_* variables of the devcluster's MinIO (also in Secret mlops-s3)."""
        return {
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def env(self) -> dict[str, str]:
        """Variables that point ``kubectl``, Kubernetes clients and S3 clients at this cluster."""
        path = [str(self.bin_dir), str(Path(sys.executable).parent)]
        path += [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in path]
        return {"KUBECONFIG": str(self.kubeconfig), "PATH": os.pathsep.join(path), **self.s3_env()}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned ``kubectl`` against this cluster; with ``check``, a failure raises
        :class:`KubectlError` (a :class:`subprocess.CalledProcessError` naming stderr)."""
        argv = [str(self.config.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def kube(self) -> Kube:
        """A JSON client with the admin identity."""
        pki = Pki(self.layout.pki)
        context = ssl_context(
            ca_file=pki.ca_cert, cert_file=pki.client_cert(ADMIN), key_file=pki.client_key(ADMIN)
        )
        return Kube(server=self.server, context=context)
