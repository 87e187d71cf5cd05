"""Progress into ``status.progress`` of the run's own TrainingJob.

Active when ``MLOPS_TRAININGJOB_NAME`` and ``MLOPS_TRAININGJOB_NAMESPACE`` are set: a JSON merge
patch of the status subresource of ``trainingjobs.mlops.dev/v1alpha1``, with in-cluster
credentials (or ``$KUBECONFIG`` outside a cluster). The operator provisions a Role allowing
exactly this.

In a pod the patch is one HTTPS request made with the standard library and the pod's service
account: importing the ``kubernetes`` client costs about 0.6 s of CPU, more than a short trial
spends on all its status patches. Outside a cluster the ``kubernetes`` client reads
``$KUBECONFIG`` (authentication plugins, contexts), as ``kubectl`` would.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Protocol

from mlops_core.progress import TrainingProgress, TrainingResult
from mlops_core.trainer_environment import ENV_TRAINING_JOB_NAME, ENV_TRAINING_JOB_NAMESPACE
from mlops_core.training_spec import TrainerConfig

GROUP = "mlops.dev"
VERSION = "v1alpha1"
PLURAL = "trainingjobs"
SERVICE_ACCOUNT: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT_SECONDS: Final = 10.0


class StatusPatcher(Protocol):
    def __call__(self, namespace: str, name: str, body: dict[str, Any]) -> None: ...


def progress_patch(progress: TrainingProgress) -> dict[str, Any]:
    """The merge patch body. ``history`` is a list, so a merge patch replaces it whole."""
    return {"status": {"progress": progress.to_wire()}}


class InClusterPatcher:
    """Merge-patches a TrainingJob's status through the API server the pod's environment names
    (``KUBERNETES_SERVICE_HOST``/``_PORT``), authenticated by the service account token (read
    on every request: the kubelet rotates it) and verified against the cluster's CA."""

    def __init__(self, *, host: str, port: str, account: Path = SERVICE_ACCOUNT) -> None:
        self._base = f"https://{f'[{host}]' if ':' in host else host}:{port}"
        self._token = account / "token"
        self._tls = ssl.create_default_context(cafile=str(account / "ca.crt"))

    def url(self, namespace: str, name: str) -> str:
        return f"{self._base}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"

    def __call__(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 (the https URL built above)
            self.url(namespace, name),
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={
                "Authorization": f"Bearer {self._token.read_text().strip()}",
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
        )
        with urllib.request.urlopen(  # noqa: S310 (an https URL built above)
            request, context=self._tls, timeout=REQUEST_TIMEOUT_SECONDS
        ) as response:
            response.read()


def _kubeconfig_patcher() -> StatusPatcher:
    from kubernetes import client, config

    config.load_kube_config()  # type: ignore[no-untyped-call]
    api = client.CustomObjectsApi(client.ApiClient())

    def patch(namespace: str, name: str, body: dict[str, Any]) -> None:
        api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, body)

    return patch


def status_patcher(env: Mapping[str, str]) -> StatusPatcher:
    """In a pod (a service account token and the API server's address): the standard library;
    elsewhere the ``kubernetes`` client with ``$KUBECONFIG``."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if host and port and (SERVICE_ACCOUNT / "token").is_file():
        return InClusterPatcher(host=host, port=port)
    return _kubeconfig_patcher()


class KubernetesReporter:
    """Merge-patches ``status.progress`` after every epoch."""

    def __init__(self, *, name: str, namespace: str, patch: StatusPatcher) -> None:
        self.name = name
        self.namespace = namespace
        self._patch_status = patch

    def _patch(self, body: dict[str, Any]) -> None:
        self._patch_status(self.namespace, self.name, body)

    def start(self, config: TrainerConfig, *, rank: int, world_size: int) -> None:
        return None

    def epoch(self, progress: TrainingProgress, *, samples_per_second: float) -> None:
        self._patch(progress_patch(progress))

    def finish(self, result: TrainingResult) -> None:
        return None  # the result travels in the termination message, read by the operator


def kubernetes_reporter_from_env(env: Mapping[str, str] | None = None) -> KubernetesReporter | None:
    environ = os.environ if env is None else env
    name, namespace = environ.get(ENV_TRAINING_JOB_NAME), environ.get(ENV_TRAINING_JOB_NAMESPACE)
    if not name or not namespace:
        return None
    return KubernetesReporter(name=name, namespace=namespace, patch=status_patcher(environ))
