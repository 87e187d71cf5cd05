"""The registry: ``/mlops/models``, one version, promote, compare."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.meta import LABEL_NAME_MAX, LABEL_NAME_PATTERN, SEMVER_MAX
from mlops_operator.api.model import Model
from mlops_operator.api.model_version import ModelVersion, Stage
from mlops_operator.operations import registry
from mlops_operator.operations.compare import Comparison
from mlops_operator.operations.errors import NotFoundError
from mlops_operator.operations.registry import Promotion
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.service_bodies import compare_body
from mlops_operator.rest.views import ERRORS, ModelList, ModelView, VersionView

router = APIRouter(tags=["models"], responses=ERRORS)

ModelId = Annotated[
    str,
    Path(
        alias="modelId",
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the Model.",
    ),
]
VersionParam = Annotated[
    str, Path(max_length=SEMVER_MAX, description="Semantic version, e.g. 1.2.0.")
]
READ_VERSIONS = Access(Permission("list", "models"), Permission("list", "modelversions"))


def version_view(mv: ModelVersion) -> VersionView:
    return VersionView(
        model_id=mv.spec.model,
        version=mv.spec.version,
        stage=mv.spec.stage,
        name=mv.metadata.name,
        artifact=mv.spec.artifact,
        metrics=mv.spec.metrics,
        hyperparameters=mv.spec.hyperparameters,
        lineage=mv.spec.lineage,
        status=mv.status,
    )


def model_view(model: Model | None, name: str, versions: list[ModelVersion]) -> ModelView:
    status = model.status if model else None
    return ModelView(
        model_id=name,
        task=model.spec.task if model else None,
        description=model.spec.description if model else None,
        production_version=status.production_version if status else None,
        staging_versions=list(status.staging_versions) if status else [],
        latest_version=status.latest_version if status else None,
        versions=[version_view(mv) for mv in versions],
    )


@router.get("/mlops/models", summary="The registry's models and their versions")
def list_models(
    scope: Annotated[Scope, Depends(READ_VERSIONS)],
    model_id: Annotated[
        str | None,
        Query(alias="modelId", max_length=LABEL_NAME_MAX, description="Only this model."),
    ] = None,
) -> ModelList:
    if model_id is not None:
        model = registry.get_model(scope.target, model_id)
        versions = registry.model_versions(scope.target, model_id)
        if model is None and not versions:
            raise NotFoundError(f"no Model {model_id!r} in namespace {scope.namespace}")
        return ModelList(models=[model_view(model, model_id, versions)])
    models = registry.list_models(scope.target)
    versions_of = registry.versions_by_model(scope.target)
    return ModelList(
        models=[
            model_view(m, m.metadata.name, versions_of.get(m.metadata.name, [])) for m in models
        ]
    )


@router.get("/mlops/models/{modelId}/{version}", summary="One version of a model")
def get_version(
    model_id: ModelId,
    version: VersionParam,
    scope: Annotated[Scope, Depends(Access(Permission("list", "modelversions")))],
) -> VersionView:
    mv, _ = registry.find_version(scope.target, model_id, version)
    return version_view(mv)


class PromoteRequest(WireModel):
    stage: Stage = Field(
        default="production", description="draft, staging, production or archived."
    )


@router.post("/mlops/models/{modelId}/{version}/promote", summary="Move a version to a stage")
def promote(
    model_id: ModelId,
    version: VersionParam,
    scope: Annotated[
        Scope,
        Depends(Access(Permission("list", "modelversions"), Permission("patch", "modelversions"))),
    ],
    body: PromoteRequest | None = None,
) -> Promotion:
    stage = (body or PromoteRequest()).stage
    wait = scope.services.settings.promote_wait_seconds
    return registry.promote(scope.target, model_id, version, stage, wait=wait)


class CompareRequest(WireModel):
    model_id: str = Field(max_length=LABEL_NAME_MAX, pattern=LABEL_NAME_PATTERN)
    versions: list[Annotated[str, Field(max_length=SEMVER_MAX)]] = Field(
        min_length=2,
        max_length=2,
        description="The two versions: [left, right] (the service's version1 and version2).",
    )

    @model_validator(mode="before")
    @classmethod
    def _service_shape(cls, body: Any) -> Any:
        return compare_body(body)


@router.post("/mlops/models/compare", summary="Two versions side by side")
def compare(
    body: CompareRequest,
    scope: Annotated[Scope, Depends(Access(Permission("list", "modelversions")))],
) -> Comparison:
    left, right = body.versions
    return registry.compare(scope.target, body.model_id, left, right)
