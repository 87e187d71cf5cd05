"""What the endpoints answer: typed response models, so ``/openapi.json`` describes every
answer (and a schema-driven test can check them). camelCase on the wire, like the resources;
parts of the resources are embedded with their own API types."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlops_core.progress import TrainingProgress
from mlops_operator.api.conditions import Condition
from mlops_operator.api.deployment_status import DriftReport, TrafficWeight
from mlops_operator.api.experiment import BestTrial, Direction, Objective
from mlops_operator.api.model_version import (
    ArtifactReference,
    Lineage,
    ModelVersionStatus,
    Stage,
)
from mlops_operator.api.training_job import PublishedArtifact


class View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Problem(View):
    """Every error: the shape of a Kubernetes Status."""

    status: int = Field(description="The HTTP status.")
    reason: str = Field(description="CamelCase reason, e.g. Unauthorized, Forbidden, Invalid.")
    message: str = Field(description="What went wrong and what to do about it.")


class Health(View):
    status: Literal["ok"]
    version: str


class TrainingJobView(View):
    job_id: str = Field(description="Name of the TrainingJob.")
    namespace: str | None
    model_id: str
    status: str = Field(description="Phase: Pending, Running, Registering, Succeeded, Failed.")
    version: str | None = Field(description="Version the run publishes.")
    progress: TrainingProgress | None
    metrics: dict[str, float]
    model_version: str | None = Field(description="ModelVersion created from the artifact.")
    artifact: PublishedArtifact | None
    conditions: list[Condition]
    created_at: datetime | None
    start_time: datetime | None
    completion_time: datetime | None
    training_job: dict[str, Any] = Field(description="The whole TrainingJob.")


class VersionView(View):
    model_id: str
    version: str
    stage: Stage
    name: str = Field(description="Name of the ModelVersion.")
    artifact: ArtifactReference
    metrics: dict[str, float]
    hyperparameters: dict[str, str]
    lineage: Lineage
    status: ModelVersionStatus


class ModelView(View):
    model_id: str
    task: str | None
    description: str | None
    production_version: str | None
    staging_versions: list[str]
    latest_version: str | None
    versions: list[VersionView]


class ModelList(View):
    models: list[ModelView]


class TransitionView(View):
    version: str
    from_: Stage = Field(alias="from")
    to: Stage
    name: str


class PromotionView(View):
    model_id: str
    version: str
    stage: Stage
    changed: bool = Field(description="False when the version already was in that stage.")
    transitions: list[TransitionView] = Field(
        description="Stage changes, the promoted version first, then those by the policy."
    )
    production_version: str | None = Field(description="As the Model's status shows it.")
    confirmed: bool = Field(description="Whether the Model's status showed the change in time.")


class MetricDelta(View):
    name: str
    left: float | None
    right: float | None
    delta: float | None


class ParameterChange(View):
    name: str
    left: str | None
    right: str | None


class ComparisonView(View):
    model_id: str
    left: str
    right: str
    metrics: list[MetricDelta]
    changed_hyperparameters: list[ParameterChange]
    unchanged_hyperparameters: int


class DeploymentView(View):
    deployment_id: str
    namespace: str | None
    model_id: str
    version: str | None
    follow_stage: str | None
    status: str = Field(description="The rollout phase.")
    endpoint: str | None = Field(description="The router Service's URL, once it exists.")
    traffic: list[TrafficWeight]
    conditions: list[Condition]
    deployment: dict[str, Any] = Field(description="The whole Deployment.")


class TrialCounts(View):
    created: int
    running: int
    succeeded: int
    failed: int
    pruned: int


class ExperimentView(View):
    experiment_id: str
    namespace: str | None
    model_id: str
    objective: Objective
    trials: TrialCounts
    best_trial: BestTrial | None
    conditions: list[Condition]
    experiment: dict[str, Any] = Field(description="The whole Experiment.")


class ExperimentRowView(View):
    experiment_id: str
    model_id: str
    metric: str
    direction: Direction
    strategy: str
    trials_created: int
    trials_succeeded: int
    trials_failed: int
    trials_pruned: int
    succeeded: bool | None
    best_value: float | None
    best_trial: str | None
    best_params: dict[str, str]
    best_model_version: str | None


class ExperimentComparisonView(View):
    comparable: bool = Field(description="Whether all optimise the same metric and direction.")
    best: str | None
    experiments: list[ExperimentRowView]


class DeploymentDriftView(View):
    deployment_id: str
    monitoring: dict[str, Any]
    drift_detected: bool
    reference: str | None = Field(description="A drift reference posted for it, if any.")
    versions: list[DriftReport]


class DriftView(View):
    model_id: str
    drift_detected: bool
    deployments: list[DeploymentDriftView]


class NewReferenceView(View):
    model_id: str
    version: str
    reference_uri: str
    digest: str
    records: int
    features: list[str]
    deployments: list[str] = Field(description="Deployments annotated with the reference.")


#: the error answers every protected endpoint documents
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (401, "No valid bearer token."),
        (403, "RBAC does not allow the action."),
        (404, "Something the request names does not exist."),
        (409, "A conflict with the current state."),
        (422, "The request cannot become a valid resource."),
        (502, "The API server, object store or model endpoint failed."),
        (503, "What the request needs is not there yet."),
    )
}
