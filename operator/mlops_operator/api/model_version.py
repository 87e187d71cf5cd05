"""ModelVersion: one immutable trained artifact of a Model, and its stage in the registry."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import immutable, rule, validations
from mlops_operator.api.conditions import ResourceStatus
from mlops_operator.api.meta import (
    DESCRIPTION_MAX,
    METRICS_MAX,
    OBJECT_NAME_MAX,
    OBJECT_NAME_PATTERN,
    SEMVER_MAX,
    SEMVER_PATTERN,
    URI_MAX,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    age_column,
    ready_column,
)
from mlops_operator.api.name_limits import MODEL_VERSION_NAME_RULE

Stage = Literal["draft", "staging", "production", "archived"]
ArtifactFormat = Literal["mlops-safetensors-v1"]

STAGES: Final[tuple[Stage, ...]] = ("draft", "staging", "production", "archived")
DIGEST_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
HYPERPARAMETERS_MAX: Final = 64
STAGE_HISTORY_MAX: Final = 32

SEMVER_MESSAGE: Final = "must be a semantic version such as 1.4.0 or 2.0.0-rc.1 (no leading v)"


def semver_rule(what: str) -> dict[str, str]:
    """A CEL rule: the string is a semantic version."""
    return rule(f"self.matches('{SEMVER_PATTERN}')", f"{what} {SEMVER_MESSAGE}")


def check_semver(value: str, *, what: str = "version") -> str:
    """``value`` if it is a semantic version, else a ValueError saying so."""
    if not re.fullmatch(SEMVER_PATTERN, value):
        raise ValueError(f"{what} {value!r} {SEMVER_MESSAGE}")
    return value


class ArtifactReference(WireModel):
    """Where the artifact is and how to check it."""

    uri: str = Field(
        min_length=1,
        max_length=URI_MAX,
        description="Root of the artifact: s3://bucket/models/<model>/<version>/ or a path. "
        "It holds manifest.json and the files it lists.",
    )
    digest: str = Field(
        max_length=71,
        pattern=DIGEST_PATTERN,
        description="sha256:<64 hex digits> of the artifact's manifest.json, which lists the "
        "sha256 of every other file; the operator verifies all of them.",
    )
    format: ArtifactFormat = Field(
        default="mlops-safetensors-v1",
        description="Artifact layout: mlops-safetensors-v1 (model.safetensors, config.json, "
        "preprocessing.json, reference_stats.json, metrics.json, manifest.json).",
    )


class Lineage(WireModel):
    """Where the version came from."""

    training_job: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="TrainingJob (same namespace) that produced the artifact.",
    )
    experiment: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Experiment (same namespace) whose trial produced the artifact.",
    )
    trial: int | None = Field(
        default=None, ge=0, le=100000, description="Trial number within the Experiment."
    )


class ModelVersionSpec(WireModel):
    """One trained artifact, its metrics and the stage it is in."""

    model: str = Field(
        min_length=1,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        json_schema_extra=validations(immutable("model")),
        description="Name of the Model (same namespace) this is a version of. Immutable.",
    )
    version: str = Field(
        min_length=1,
        max_length=SEMVER_MAX,
        json_schema_extra=validations(semver_rule("version"), immutable("version")),
        description="Semantic version, e.g. 1.4.0. Immutable.",
    )
    stage: Stage = Field(
        default="draft",
        json_schema_extra=validations(
            rule(
                "oldSelf != 'archived' || self != 'draft'",
                "an archived ModelVersion cannot go back to draft",
            )
        ),
        description="Registry stage: draft, staging, production or archived. Promote by "
        "changing it (or `kubectl mlops promote`); the Model's registry policy is enforced, "
        "and an archived version cannot go back to draft.",
    )
    artifact: ArtifactReference = Field(
        json_schema_extra=validations(immutable("artifact")),
        description="The trained artifact. Immutable: a new artifact is a new version.",
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        max_length=METRICS_MAX,
        description="Evaluation metrics, name → value, e.g. val_accuracy: 0.93.",
    )
    hyperparameters: dict[str, Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict,
        max_length=HYPERPARAMETERS_MAX,
        description="Hyperparameters the artifact was trained with, name → value as text.",
    )
    lineage: Lineage = Field(
        default_factory=Lineage, description="The TrainingJob / Experiment trial behind it."
    )
    description: str | None = Field(
        default=None, max_length=DESCRIPTION_MAX, description="Notes for people."
    )

    @field_validator("version")
    @classmethod
    def _version_is_semver(cls, value: str) -> str:
        return check_semver(value)


class StageTransition(WireModel):
    """One change of stage, as the registry applied it."""

    stage: Stage = Field(description="The stage entered.")
    time: datetime = Field(description="When the stage was entered.")
    reason: str = Field(
        max_length=256, description="Why: Registered, Promoted, ArchivedOnPromote, ..."
    )


class ModelVersionStatus(ResourceStatus):
    """Verification of the artifact and the history of its stages."""

    artifact_verified: bool | None = Field(
        default=None,
        description="True once manifest.json matched spec.artifact.digest and every file "
        "matched its sha256; false when the artifact is missing or corrupted.",
    )
    artifact_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Bytes of the verified artifact's files (as its manifest lists them): what "
        "a serving pool places by.",
    )
    stage_history: list[StageTransition] = Field(
        default_factory=list,
        max_length=STAGE_HISTORY_MAX,
        description=f"Stage transitions, oldest first; the last {STAGE_HISTORY_MAX} are kept.",
    )
    promoted_at: datetime | None = Field(
        default=None, description="When the version last entered the production stage."
    )


class ModelVersion(CustomResource):
    """One immutable trained artifact of a Model."""

    kind: Literal["ModelVersion"] = "ModelVersion"
    spec: ModelVersionSpec
    status: ModelVersionStatus = Field(default_factory=ModelVersionStatus)


MODEL_VERSION: Final = ResourceKind(
    kind="ModelVersion",
    plural="modelversions",
    singular="modelversion",
    short_names=("mv",),
    resource=ModelVersion,
    spec=ModelVersionSpec,
    status=ModelVersionStatus,
    description="ModelVersion is one immutable trained artifact of a Model (URI + sha256 "
    "digest), its metrics, hyperparameters and lineage, and its registry stage. The operator "
    "creates one for every successful TrainingJob; users may register an existing artifact.",
    printer_columns=(
        PrinterColumn(name="Model", json_path=".spec.model", description="The Model."),
        PrinterColumn(name="Version", json_path=".spec.version", description="Semantic version."),
        PrinterColumn(name="Stage", json_path=".spec.stage", description="Registry stage."),
        PrinterColumn(
            name="Verified",
            json_path=".status.artifactVerified",
            type="boolean",
            description="Whether the artifact matched its digests.",
        ),
        ready_column(),
        age_column(),
    ),
    root_rules=(MODEL_VERSION_NAME_RULE,),
)
