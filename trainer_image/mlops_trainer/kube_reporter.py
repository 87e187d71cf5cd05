"""Progress into ``status.progress`` of the run's own TrainingJob.

Active when ``MLOPS_TRAININGJOB_NAME`` and ``MLOPS_TRAININGJOB_NAMESPACE`` are set: a JSON merge
patch of the status subresource of ``trainingjobs.mlops.dev/v1alpha1``, with in-cluster
credentials (or ``$KUBECONFIG`` outside a cluster). The operator provisions a Role allowing
exactly this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlops_core.progress import TrainingProgress, TrainingResult
from mlops_core.trainer_environment import ENV_TRAINING_JOB_NAME, ENV_TRAINING_JOB_NAMESPACE
from mlops_core.training_spec import TrainerConfig

GROUP = "mlops.dev"
VERSION = "v1alpha1"
PLURAL = "trainingjobs"


def progress_patch(progress: TrainingProgress) -> dict[str, Any]:
    """The merge patch body. ``history`` is a list, so a merge patch replaces it whole."""
    return {"status": {"progress": progress.to_wire()}}


def _api_client() -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class KubernetesReporter:
    """Merge-patches ``status.progress`` after every epoch."""

    def __init__(self, *, name: str, namespace: str, api_client: Any | None = None) -> None:
        from kubernetes import client

        self.name = name
        self.namespace = namespace
        self._api = client.CustomObjectsApi(api_client or _api_client())

    def _patch(self, body: dict[str, Any]) -> None:
        self._api.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, self.name, body
        )

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
    return KubernetesReporter(name=name, namespace=namespace)
