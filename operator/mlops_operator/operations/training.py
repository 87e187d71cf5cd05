"""Training runs: submit a TrainingJob, read one back."""

from __future__ import annotations

from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob, TrainingJobSpec
from mlops_operator.operations.errors import NotFoundError
from mlops_operator.operations.target import Target


def submit_training(
    target: Target,
    spec: TrainingJobSpec,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
) -> TrainingJob:
    """Create a TrainingJob named ``name``, or ``<model>-<random>`` when none is given.

    The API server validates it (schema and CEL rules); a rejection is the Kubernetes
    adapter's ``InvalidError`` carrying the API server's message.
    """
    metadata: dict[str, object] = {"namespace": target.namespace, "labels": labels or {}}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{spec.model_name[:40]}-"
    created = target.kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "TrainingJob",
            "metadata": metadata,
            "spec": spec.to_wire(),
        }
    )
    return TrainingJob.from_body(created)


def get_training_job(target: Target, name: str) -> TrainingJob:
    body = target.kube.get(API_VERSION, "TrainingJob", name, target.namespace)
    if body is None:
        raise NotFoundError(f"no TrainingJob {name!r} in namespace {target.namespace}")
    return TrainingJob.from_body(body)
