"""What every pod worker shares: the API client, addresses, folders and node facts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_devcluster.agent.addresses import AddressPool
from mlops_devcluster.agent.hosts import HostsFiles
from mlops_devcluster.agent.launch import BindMount
from mlops_devcluster.agent.pod_runtime import BIN
from mlops_devcluster.kube import ApiError, Kube, resource_path
from mlops_devcluster.layout import Layout

Object = dict[str, Any]
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Runtime:
    kube: Kube
    layout: Layout
    api_host: str
    api_port: int
    addresses: AddressPool
    allocatable: dict[str, dict[str, str]]
    hosts: HostsFiles
    #: this project's runtime at its fixed path (see ``pod_runtime``), mounted before volumes
    runtime_mounts: list[BindMount] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    python_bin: str = BIN

    def lookup(self, kind: str, namespace: str, name: str) -> Object | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        try:
            return self.kube.get(
                resource_path(api_version="v1", plural=plural, namespace=namespace, name=name)
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def issue_token(self, namespace: str, service_account: str, pod: Object, spec: Object) -> str:
        """A bound service-account token from the TokenRequest API (as the kubelet gets it)."""
        body: Object = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": int(spec.get("expirationSeconds", 3607)),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        }
        if spec.get("audience"):
            body["spec"]["audiences"] = [spec["audience"]]
        path = resource_path(
            api_version="v1",
            plural="serviceaccounts",
            namespace=namespace,
            name=service_account,
            subresource="token",
        )
        return str(self.kube.create(path, body)["status"]["token"])

    def base_env(self, pod: Object) -> dict[str, str]:
        """What every container gets before its own ``env``: a PATH with this project's Python
        first, and the in-cluster API server address."""
        name = pod["metadata"]["name"]
        return {
            "PATH": f"{self.python_bin}:{SYSTEM_PATH}",
            "HOME": str(self.pod_dir(pod) / "home"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "HOSTNAME": pod["spec"].get("hostname") or name[:63],
            "KUBERNETES_SERVICE_HOST": self.api_host,
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.api_port),
        }

    def pod_dir(self, pod: Object) -> Path:
        return self.layout.pods / str(pod["metadata"]["uid"])

    def log_dir(self, pod: Object) -> Path:
        meta = pod["metadata"]
        return self.layout.pod_logs / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    @property
    def pid_dir(self) -> Path:
        return self.layout.run / "pods"
