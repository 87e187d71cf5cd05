"""The replaced service's deploy request, and how it becomes a Deployment spec. Pure.

``POST /mlops/deploy`` takes ``{"modelId": "threat-classifier", "version": "1.2.0"}`` (or
``"modelId": "threat-classifier:1.2.0"``, or ``"stage": "production"`` to follow a stage), with
optional ``name``, ``replicas``, ``strategy``, ``resources``, ``serving``, ``monitoring`` and
``alerts``, each exactly as in the Deployment's spec.

The service's ``{"modelId": "threat-classifier", "version": "1.1.0", "stage": "production"}``
(deploy 1.1.0 as the production deployment) serves 1.1.0, pinned, from the model's production
Deployment (``service_bodies.deploy_body``). The Deployment is named by the stage: the
model's name for production or no stage, ``<model>-<stage>`` for another stage; ``name``
overrides it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.deployment import REPLICAS_MAX, DeploymentSpec, FollowedStage
from mlops_operator.api.meta import LABEL_NAME_MAX, LABEL_NAME_PATTERN, SEMVER_MAX
from mlops_operator.rest.service_bodies import deploy_body, deployment_name_for

JSON = dict[str, Any]


class DeployRequest(WireModel):
    """The body of ``POST /mlops/deploy``."""

    model_id: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX + SEMVER_MAX + 1,
        description="'name' or 'name:version'.",
    )
    version: str | None = Field(default=None, max_length=SEMVER_MAX, description="Serve it.")
    stage: FollowedStage | None = Field(
        default=None, description="Serve whatever version is in this stage instead."
    )
    name: str | None = Field(
        default=None,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the Deployment (default: the model's name; <model>-<stage> "
        "for a stage other than production).",
    )
    replicas: int | None = Field(default=None, ge=0, le=REPLICAS_MAX)
    strategy: JSON | None = Field(default=None, description="As the Deployment's spec.strategy.")
    resources: JSON | None = Field(default=None, description="As spec.resources.")
    scheduling: JSON | None = Field(default=None, description="As spec.scheduling.")
    serving: JSON | None = Field(default=None, description="As spec.serving.")
    monitoring: JSON | None = Field(default=None, description="As spec.monitoring.")
    alerts: list[JSON] | None = Field(default=None, description="As spec.alerts.")

    @model_validator(mode="before")
    @classmethod
    def _service_shape(cls, body: Any) -> Any:
        return deploy_body(body)


def model_and_version(request: DeployRequest) -> tuple[str, str | None]:
    name, _, version = request.model_id.partition(":")
    return name, request.version or version or None


def deployment_name(request: DeployRequest) -> str:
    return request.name or deployment_name_for(model_and_version(request)[0], request.stage)


def deployment_spec(request: DeployRequest) -> DeploymentSpec:
    """The spec; pydantic's ValidationError names what is wrong (e.g. both or neither of
    version and stage)."""
    model, version = model_and_version(request)
    spec: JSON = {"model": model}
    if version is not None:
        spec["version"] = version
    if request.stage is not None:
        spec["followStage"] = request.stage
    for key in ("replicas", "strategy", "resources", "scheduling", "serving", "monitoring"):
        value = getattr(request, key)
        if value is not None:
            spec[key] = value
    if request.alerts is not None:
        spec["alerts"] = request.alerts
    return DeploymentSpec.model_validate(spec)
