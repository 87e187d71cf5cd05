"""``GET /mlops/models/{modelId}/drift`` and ``POST /mlops/models/{modelId}/drift/init``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.meta import SEMVER_MAX
from mlops_operator.operations.drift import ModelDrift, NewReference, init_reference, model_drift
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.models import ModelId
from mlops_operator.rest.service_bodies import drift_init_body
from mlops_operator.rest.views import ERRORS

router = APIRouter(tags=["drift"], responses=ERRORS)

REFERENCE_RECORDS_MAX = 100_000


@router.get("/mlops/models/{modelId}/drift", summary="Drift scores of the model's Deployments")
def drift(
    model_id: ModelId,
    scope: Annotated[
        Scope, Depends(Access(Permission("list", "deployments"), Permission("get", "models")))
    ],
) -> ModelDrift:
    return model_drift(scope.target, model_id)


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
) -> NewReference:
    services = scope.services
    return init_reference(
        scope.target,
        model_id,
        body.records,
        version=body.version,
        reference_root=services.settings.drift_reference_root,
        open_store=services.open_store,
    )
