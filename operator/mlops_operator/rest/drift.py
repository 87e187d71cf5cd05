"""``GET /mlops/models/{modelId}/drift`` and ``POST /mlops/models/{modelId}/drift/init``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.meta import SEMVER_MAX
from mlops_operator.operations.drift import init_reference, model_drift
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.models import ModelId
from mlops_operator.rest.service_bodies import drift_init_body
from mlops_operator.rest.views import ERRORS, DeploymentDriftView, DriftView, NewReferenceView

router = APIRouter(tags=["drift"], responses=ERRORS)

REFERENCE_RECORDS_MAX = 100_000


@router.get("/mlops/models/{modelId}/drift", summary="Drift scores of the model's Deployments")
def drift(
    model_id: ModelId,
    scope: Annotated[
        Scope, Depends(Access(Permission("list", "deployments"), Permission("get", "models")))
    ],
) -> DriftView:
    found = model_drift(scope.target, model_id)
    return DriftView(
        model_id=model_id,
        drift_detected=found.drifted,
        deployments=[
            DeploymentDriftView(
                deployment_id=d.name,
                monitoring=d.monitoring,
                drift_detected=d.drifted,
                reference=d.reference,
                versions=d.reports,
            )
            for d in found.deployments
        ],
    )


class DriftInitRequest(WireModel):
    """Raw input records (as sent for predictions) that describe 'no drift'; the service's
    ``referenceData`` (records, or ``{column: [values]}``) is taken for ``records``."""

    records: list[dict[str, Any]] = Field(min_length=1, max_length=REFERENCE_RECORDS_MAX)
    version: str | None = Field(
        default=None,
        max_length=SEMVER_MAX,
        description="Version whose preprocessing defines the features (default: the served one).",
    )

    @model_validator(mode="before")
    @classmethod
    def _service_shape(cls, body: Any) -> Any:
        return drift_init_body(body)


@router.post(
    "/mlops/models/{modelId}/drift/init",
    status_code=201,
    summary="A new drift reference from posted data",
)
def drift_init(
    model_id: ModelId,
    body: DriftInitRequest,
    scope: Annotated[
        Scope,
        Depends(
            Access(
                Permission("list", "deployments"),
                Permission("patch", "deployments"),
                Permission("list", "modelversions"),
            )
        ),
    ],
) -> NewReferenceView:
    services = scope.services
    done = init_reference(
        scope.target,
        model_id,
        body.records,
        version=body.version,
        reference_root=services.settings.drift_reference_root,
        open_store=services.open_store,
    )
    return NewReferenceView(
        model_id=done.model,
        version=done.version,
        reference_uri=done.uri,
        digest=done.digest,
        records=done.records,
        features=done.features,
        deployments=done.deployments,
    )
