"""What the endpoints answer about the resources: typed response models, so ``/openapi.json``
describes every answer (and a schema-driven test can check them). camelCase on the wire, like
the resources; parts of the resources are embedded with their own API types. What an operation
computes (a promotion, a comparison, drift, a new reference) is answered as the operation's own
typed result (``operations/``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlops_core.progress import TrainingProgress
from mlops_operator.api.conditions import Condition
from mlops_operator.api.deployment_status import TrafficWeight
from mlops_operator.api.experiment import BestTrial, Objective
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
