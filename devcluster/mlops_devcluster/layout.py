"""Where a devcluster keeps its state: one folder holds certificates, data, logs and pid files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: environment variable that points at the state folder of the devcluster to use
DIR_ENV: Final = "MLOPS_DEVCLUSTER_DIR"
DEFAULT_DIR: Final = Path.home() / ".mlops-devcluster"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state folder: ``explicit`` (a ``--dir`` flag), else ``$MLOPS_DEVCLUSTER_DIR``, else
    ``~/.mlops-devcluster``."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(DIR_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return DEFAULT_DIR


@dataclass(frozen=True)
class Layout:
    """The files and folders inside one state folder."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pod_logs(self) -> Path:
        return self.root / "logs" / "pods"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def pods(self) -> Path:
        """Per-pod working folders (service-account token, emptyDir volumes, termination files)."""
        return self.root / "pods"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def minio_data(self) -> Path:
        return self.root / "minio"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig, for ``kubectl`` and clients."""
        return self.root / "kubeconfig"

    @property
    def config_file(self) -> Path:
        """Ports, credentials and binary locations chosen by ``up`` (JSON)."""
        return self.root / "cluster.json"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def ensure(self) -> None:
        for folder in (self.root, self.pki, self.logs, self.pod_logs, self.run, self.pods):
            folder.mkdir(parents=True, exist_ok=True)
        self.pki.chmod(0o700)
