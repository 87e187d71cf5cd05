"""Kubeconfig documents for the admin user and the control-plane components (pure builders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

CLUSTER_NAME: Final = "mlops-devcluster"


def build_kubeconfig(
    *, server: str, ca_file: Path, cert_file: Path, key_file: Path, user: str
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one current context (files referenced by
    absolute path, so ``kubectl`` and the Python client read them from anywhere)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(cert_file), "client-key": str(key_file)},
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }


def write_kubeconfig(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
