"""TrainingJob: one training run, which the operator turns into a batch/v1 Job.

The spec embeds the very types the trainer validates its config with
(:mod:`mlops_core.training_spec`) as ``dataset``, ``model`` and ``training``; the status embeds
the trainer's own progress report (:class:`mlops_core.progress.TrainingProgress`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlops_core.progress import TrainingProgress
from mlops_core.training_spec import DatasetSpec, ModelSpec, TrainingSpec
from mlops_core.wire import WireModel
from mlops_operator.api.cel import Rule, rule, validations
from mlops_operator.api.conditions import SUCCEEDED, ResourceStatus
from mlops_operator.api.meta import (
    LABEL_NAME_MAX,
    LABEL_NAME_PATTERN,
    METRICS_MAX,
    OBJECT_NAME_MAX,
    OBJECT_NAME_PATTERN,
    SEMVER_MAX,
    URI_MAX,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    VersionString,
    age_column,
    condition_column,
)
from mlops_operator.api.model_version import check_semver, semver_rule
from mlops_operator.api.name_limits import TRAINING_JOB_NAME_RULE
from mlops_operator.api.resources import ComputeResources, Scheduling

TEXT_ARCHITECTURES: Final = ("lstm", "cnn_text")
WORKERS_MAX: Final = 64

TrainingPhase = Literal[
    "Pending", "Queued", "Running", "Registering", "Succeeded", "Failed", "Stopped"
]
#: phases after which nothing changes
FINISHED_PHASES: Final = ("Succeeded", "Failed", "Stopped")
VersionBump = Literal["major", "minor", "patch"]
InitialStage = Literal["draft", "staging", "production"]

_TEXT_LIST: Final = ", ".join(f"'{name}'" for name in TEXT_ARCHITECTURES)
TEXT_MODEL_NEEDS_TEXT_COLUMN: Final = (
    "text models (lstm, cnn_text) need dataset.textColumn: the column holding the text"
)
TABULAR_MODEL_TAKES_NO_TEXT_COLUMN: Final = (
    "tabular models (logistic_regression, mlp) take no dataset.textColumn: "
    "unset it, or choose lstm or cnn_text"
)
#: dataset and model must agree on text vs tabular data (TrainerConfig checks the same)
TEXT_COLUMN_RULES: Final[tuple[Rule, ...]] = (
    rule(
        f"!(self.model.architecture in [{_TEXT_LIST}]) || has(self.dataset.textColumn)",
        TEXT_MODEL_NEEDS_TEXT_COLUMN,
        field_path=".dataset",
    ),
    rule(
        f"self.model.architecture in [{_TEXT_LIST}] || !has(self.dataset.textColumn)",
        TABULAR_MODEL_TAKES_NO_TEXT_COLUMN,
        field_path=".dataset.textColumn",
    ),
)


def check_text_column(*, dataset: DatasetSpec, model: ModelSpec) -> None:
    """Raise ValueError when the architecture and ``dataset.textColumn`` disagree."""
    is_text_model = model.architecture in TEXT_ARCHITECTURES
    if is_text_model and dataset.text_column is None:
        raise ValueError(TEXT_MODEL_NEEDS_TEXT_COLUMN)
    if not is_text_model and dataset.text_column is not None:
        raise ValueError(TABULAR_MODEL_TAKES_NO_TEXT_COLUMN)


class TrainingRunSpec(WireModel):
    """What one training run needs: data, model, loop, resources and placement.

    A TrainingJob's spec is this plus the registry settings; an Experiment's trial template is
    exactly this.
    """

    model_config = ConfigDict(json_schema_extra=validations(*TEXT_COLUMN_RULES))

    dataset: DatasetSpec = Field(
        description="Train/validation/test splits (URIs), their format and the columns to use."
    )
    model: ModelSpec = Field(
        description="Architecture from the model zoo, its sizes, optimizer, loss and metrics."
    )
    training: TrainingSpec = Field(
        default_factory=TrainingSpec,
        description="Epochs, batch size, early stopping, checkpoint interval and seed.",
    )
    resources: ComputeResources = Field(
        default_factory=ComputeResources, description="CPU, memory and GPUs of each worker."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Node selector, tolerations and priority."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=WORKERS_MAX,
        json_schema_extra=validations(
            rule(
                "self >= 1",
                "workers must be at least 1 (more than 1 trains with distributed data parallel)",
            )
        ),
        description="Number of worker pods. More than 1 runs distributed data parallel "
        "training: an Indexed Job plus a headless Service for the rendezvous.",
    )
    queue: str | None = Field(
        default=None,
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Kueue LocalQueue (in this namespace) the run waits in for quota: its Job "
        "is created suspended and starts when Kueue admits it. Default: the operator's "
        "defaultQueue when this namespace has a LocalQueue of that name; else the run starts "
        "at once, outside any queue.",
    )
    priority_class: str | None = Field(
        default=None,
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Kueue WorkloadPriorityClass of the run: orders the queue and lets a "
        "higher-priority run preempt a lower one (the preempted run resumes from the "
        "checkpoint it writes when stopped). Only with a queue.",
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=20,
        description="Pod failures tolerated before the run fails (the Job's backoffLimit); "
        "a retry resumes from the latest checkpoint.",
    )
    deadline_seconds: int | None = Field(
        default=None,
        ge=60,
        le=30 * 24 * 3600,
        description="Wall-clock limit of the whole run, retries included (the Job's "
        "activeDeadlineSeconds). When exceeded the run fails with reason DeadlineExceeded.",
    )
    mlflow_experiment: str | None = Field(
        default=None,
        min_length=1,
        max_length=OBJECT_NAME_MAX,
        description="MLflow experiment to log parameters and metrics to, when the operator "
        "has an MLflow tracking URI.",
    )
    storage_secret_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Secret in this namespace with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
        "and AWS_ENDPOINT_URL for the object store. Default: the operator's configured Secret "
        "name (mlops-s3).",
    )

    @model_validator(mode="after")
    def _text_models_need_text(self) -> TrainingRunSpec:
        check_text_column(dataset=self.dataset, model=self.model)
        return self


class RegistrationPolicy(WireModel):
    """How the artifact of a successful run is registered as a ModelVersion."""

    enabled: bool = Field(
        default=True,
        description="Create a ModelVersion for the artifact. When false the artifact is "
        "published and recorded in status only (Experiment trials use this).",
    )
    bump: VersionBump = Field(
        default="patch",
        description="Which part of the highest existing version of the Model to increase: "
        "major, minor or patch. Ignored when version is set.",
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=SEMVER_MAX,
        json_schema_extra=validations(semver_rule("registration.version")),
        description="Register exactly this semantic version instead of bumping; the run fails "
        "if that version already exists.",
    )
    stage: InitialStage = Field(
        default="draft",
        description="Stage of the new ModelVersion: draft, staging or production (subject to "
        "the Model's registry policy).",
    )

    @field_validator("version")
    @classmethod
    def _version_is_semver(cls, value: str | None) -> str | None:
        return None if value is None else check_semver(value, what="registration.version")


class TrainingJobSpec(TrainingRunSpec):
    """One training run of a Model. Immutable once created: to train again, create another."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            *TEXT_COLUMN_RULES,
            rule(
                "self == oldSelf",
                "the spec of a TrainingJob cannot change once created: "
                "create a new TrainingJob to train again",
            ),
        )
    )

    model_name: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the Model (same namespace) the run trains a version of.",
    )
    registration: RegistrationPolicy = Field(
        default_factory=RegistrationPolicy,
        description="Version bump (or explicit version) and initial stage of the ModelVersion.",
    )


class Preemption(WireModel):
    """One time Kueue took the run's quota back for another workload."""

    time: datetime = Field(description="When the run was evicted.")
    reason: str = Field(max_length=128, description="Kueue's eviction reason, e.g. Preempted.")
    message: str = Field(
        default="", max_length=1024, description="Kueue's message: by which workload, and why."
    )


PREEMPTIONS_KEPT: Final = 10


class QueueStatus(WireModel):
    """The run's Kueue Workload as the operator last read it."""

    name: str = Field(max_length=LABEL_NAME_MAX, description="The LocalQueue.")
    workload: str | None = Field(
        default=None, max_length=OBJECT_NAME_MAX, description="Kueue's Workload of the run."
    )
    cluster_queue: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        description="The ClusterQueue that admitted the run (once admitted).",
    )
    admitted: bool = Field(default=False, description="Whether Kueue admitted the run.")
    reason: str | None = Field(
        default=None, max_length=128, description="Why it waits, as Kueue says it."
    )
    position: int | None = Field(
        default=None,
        ge=1,
        description="Place among the runs waiting in the LocalQueue (1: admitted next when "
        "quota allows), in Kueue's order: priority, then queueing time. Unset once admitted.",
    )
    preemptions: int = Field(
        default=0, ge=0, description="How many times the run was preempted (not failures)."
    )
    preemption_history: list[Preemption] = Field(
        default_factory=list,
        max_length=PREEMPTIONS_KEPT,
        description=f"The latest {PREEMPTIONS_KEPT} preemptions, oldest first.",
    )


class PublishedArtifact(WireModel):
    """The artifact a run writes."""

    uri: str = Field(max_length=URI_MAX, description="Root of the artifact.")
    digest: str | None = Field(
        default=None,
        max_length=71,
        description="sha256:<hex> of manifest.json, once published and verified.",
    )


class TrainingJobStatus(ResourceStatus):
    """Where the run is: phase, live progress, attempts and what it produced."""

    phase: TrainingPhase | None = Field(
        default=None,
        description="Pending, Queued (waiting in a Kueue queue for quota), Running, "
        "Registering, Succeeded, Failed, or Stopped (by the Experiment whose trial it is: "
        "pruned, or the search ended).",
    )
    queue: QueueStatus | None = Field(
        default=None, description="The Kueue queue the run goes through, and its place there."
    )
    version: VersionString | None = Field(
        default=None,
        description="Version the run publishes, chosen when it starts so that a retry "
        "publishes to the same place.",
    )
    job_name: str | None = Field(
        default=None, max_length=OBJECT_NAME_MAX, description="The batch/v1 Job of the run."
    )
    attempts: int = Field(
        default=0, ge=0, description="Worker pods started so far, retries included."
    )
    progress: TrainingProgress | None = Field(
        default=None,
        description="Live progress reported by the trainer: epoch of total, latest and best "
        "metrics, recent history.",
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        max_length=METRICS_MAX,
        description="Final validation/test metrics of the published weights.",
    )
    artifact: PublishedArtifact | None = Field(default=None, description="The artifact written.")
    model_version: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        description="Name of the ModelVersion created from the artifact.",
    )
    start_time: datetime | None = Field(default=None, description="When the run started.")
    completion_time: datetime | None = Field(
        default=None, description="When the run succeeded or failed."
    )


class TrainingJob(CustomResource):
    """One training run."""

    kind: Literal["TrainingJob"] = "TrainingJob"
    spec: TrainingJobSpec
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)


TRAINING_JOB: Final = ResourceKind(
    kind="TrainingJob",
    plural="trainingjobs",
    singular="trainingjob",
    short_names=("tj",),
    resource=TrainingJob,
    spec=TrainingJobSpec,
    status=TrainingJobStatus,
    description="TrainingJob is one training run of a Model: data, model and training "
    "settings, resources (GPUs, distributed workers), retries and deadline, and how the "
    "result is registered. The operator runs it as a batch/v1 Job and, on success, creates a "
    "verified ModelVersion. The spec is immutable once created.",
    printer_columns=(
        PrinterColumn(name="Model", json_path=".spec.modelName", description="The Model trained."),
        PrinterColumn(name="Phase", json_path=".status.phase", description="Phase of the run."),
        PrinterColumn(
            name="Queue", json_path=".status.queue.name", description="Kueue LocalQueue."
        ),
        PrinterColumn(
            name="Position",
            json_path=".status.queue.position",
            type="integer",
            description="Place in the queue while waiting (1: next).",
        ),
        PrinterColumn(
            name="Epoch",
            json_path=".status.progress.epoch",
            type="integer",
            description="Epochs finished.",
        ),
        PrinterColumn(
            name="Of",
            json_path=".status.progress.totalEpochs",
            type="integer",
            description="Epochs asked for.",
        ),
        PrinterColumn(
            name="Version", json_path=".status.version", description="Version it publishes."
        ),
        condition_column(SUCCEEDED),
        age_column(),
        PrinterColumn(
            name="Job",
            json_path=".status.jobName",
            description="The batch/v1 Job.",
            priority=1,
        ),
    ),
    root_rules=(TRAINING_JOB_NAME_RULE,),
)
