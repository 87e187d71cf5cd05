"""The search's winner registered: the best trial's verified artifact becomes a ModelVersion at
``winner.stage``, with its lineage (Experiment, trial, TrainingJob) and parameters.

Trials register nothing themselves (their TrainingJobs have ``registration.enabled: false``),
so a search of fifty trials adds one version to the registry, not fifty. Each trial still
publishes its artifact under the version its run reserved; the winner is registered under
that version, so the registry may skip the numbers of the trials that lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.model_version import build_model_version
from mlops_operator.context import OperatorContext
from mlops_operator.kube import ConflictError
from mlops_operator.search.record import TrialRecord


@dataclass(frozen=True)
class WinnerRegistration:
    """The winner's ModelVersion, or why there is none yet (``pending``) or ever (``refused``)."""

    model_version: str | None = None
    pending: str | None = None
    refused: str | None = None
    created: bool = False


def register_winner(
    ctx: OperatorContext, experiment: Experiment, best: TrialRecord, tj: TrainingJob
) -> WinnerRegistration:
    """Create the winner's ModelVersion if absent (a deterministic name: the model and the
    trial's version); idempotent."""
    if not experiment.spec.winner.register_model:
        return WinnerRegistration()
    artifact, version = tj.status.artifact, tj.status.version
    if artifact is None or artifact.digest is None or version is None:
        return WinnerRegistration(pending=f"trial {tj.metadata.name} has no verified artifact yet")
    manifest = build_model_version(
        tj,
        version=version,
        artifact_uri=artifact.uri,
        digest=artifact.digest,
        metrics=dict(tj.status.metrics),
        stage=experiment.spec.winner.stage,
        experiment=experiment.metadata.name,
        trial=best.number,
    )
    name = str(manifest["metadata"]["name"])
    namespace = experiment.metadata.namespace
    created = False
    existing = ctx.kube.get(API_VERSION, "ModelVersion", name, namespace)
    if existing is None:
        try:
            ctx.kube.create(manifest)
            return WinnerRegistration(model_version=name, created=True)
        except ConflictError:
            existing = ctx.kube.get(API_VERSION, "ModelVersion", name, namespace)
    if existing is not None:
        lineage = ModelVersion.from_body(existing).spec.lineage
        if lineage.training_job != tj.metadata.name:
            return WinnerRegistration(
                refused=f"ModelVersion {name} already exists and was not registered from trial "
                f"{tj.metadata.name}; the winner's artifact stays at {artifact.uri}"
            )
    return WinnerRegistration(model_version=name, created=created)
