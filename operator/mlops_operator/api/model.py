"""Model: a named model in the registry, its input schema and the registry's policy for it."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from mlops_core.wire import WireModel
from mlops_operator.api.conditions import ResourceStatus
from mlops_operator.api.meta import (
    DESCRIPTION_MAX,
    SEMVER_MAX,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    VersionString,
    age_column,
    ready_column,
)
from mlops_operator.api.name_limits import MODEL_NAME_RULE

ModelTask = Literal["text-classification", "tabular-classification"]
InputType = Literal["string", "number", "integer", "boolean"]

INPUT_FIELDS_MAX: Final = 256
STAGING_VERSIONS_MAX: Final = 64


class InputField(WireModel):
    """One input the model expects in a prediction request."""

    name: str = Field(
        min_length=1, max_length=128, description="Field name in a prediction request."
    )
    type: InputType = Field(description="JSON type of the value: string, number, integer, boolean.")
    description: str | None = Field(
        default=None, max_length=512, description="What the field means, for the model's users."
    )


class RegistryPolicy(WireModel):
    """How the registry treats this model's versions."""

    single_production: bool = Field(
        default=True,
        description="At most one version of this model is in the production stage at a time.",
    )
    archive_on_promote: bool = Field(
        default=True,
        description="When a version is promoted to production, the version it replaces is "
        "archived. When false, the replaced version goes back to staging.",
    )
    delete_artifacts_on_archive: bool = Field(
        default=False,
        description="Delete a version's artifact from the object store when it is archived. "
        "Off by default: archived versions keep their artifacts and can be inspected.",
    )


class RegisteredModelSpec(WireModel):
    """What the model is for and how its versions are governed."""

    task: ModelTask = Field(
        description="What the model does: text-classification or tabular-classification."
    )
    description: str | None = Field(
        default=None, max_length=DESCRIPTION_MAX, description="What the model is for, for people."
    )
    owner: str | None = Field(
        default=None,
        max_length=253,
        description="Team or person responsible for the model, e.g. an e-mail address.",
    )
    input_schema: list[InputField] = Field(
        default_factory=list,
        max_length=INPUT_FIELDS_MAX,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Inputs of a prediction request, one entry per field name.",
    )
    registry: RegistryPolicy = Field(
        default_factory=RegistryPolicy, description="Registry policy for this model's versions."
    )


class RegisteredModelStatus(ResourceStatus):
    """Where the model's versions stand, aggregated from its ModelVersions."""

    latest_version: str | None = Field(
        default=None, max_length=SEMVER_MAX, description="Highest semantic version registered."
    )
    production_version: str | None = Field(
        default=None, max_length=SEMVER_MAX, description="Version in the production stage."
    )
    staging_versions: list[VersionString] = Field(
        default_factory=list,
        max_length=STAGING_VERSIONS_MAX,
        description="Versions in the staging stage, highest first.",
    )
    version_count: int = Field(default=0, ge=0, description="Number of ModelVersions.")


class Model(CustomResource):
    """A named model in the registry."""

    kind: Literal["Model"] = "Model"
    spec: RegisteredModelSpec
    status: RegisteredModelStatus = Field(default_factory=RegisteredModelStatus)


MODEL: Final = ResourceKind(
    kind="Model",
    plural="models",
    singular="model",
    short_names=("mlmodel",),
    resource=Model,
    spec=RegisteredModelSpec,
    status=RegisteredModelStatus,
    description="Model is a named model in the registry: what it does, who owns it, its input "
    "schema and the policy for its versions. Its versions are ModelVersion objects.",
    printer_columns=(
        PrinterColumn(name="Task", json_path=".spec.task", description="What the model does."),
        PrinterColumn(
            name="Production",
            json_path=".status.productionVersion",
            description="Version in production.",
        ),
        PrinterColumn(
            name="Latest", json_path=".status.latestVersion", description="Highest version."
        ),
        PrinterColumn(
            name="Versions",
            json_path=".status.versionCount",
            type="integer",
            description="Number of versions.",
        ),
        ready_column(),
        age_column(),
    ),
    root_rules=(MODEL_NAME_RULE,),
)
