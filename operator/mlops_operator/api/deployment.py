"""Deployment (deployments.mlops.dev): serve a Model's versions behind a traffic router.

Which version(s): one explicit ``version``, or ``followStage`` (whatever version is in that
stage; a change rolls out with the strategy), or the variants of an A/B test. How a new version
arrives: ``direct``, ``canary`` steps gated by analysis of the router's per-version metrics, or
an ``ab-test`` that ends with a significance test.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlops_core.serving_spec import DriftSpec, ServingSpec
from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.deployment_status import DeploymentStatus
from mlops_operator.api.meta import (
    LABEL_NAME_MAX,
    LABEL_NAME_PATTERN,
    OBJECT_NAME_MAX,
    OBJECT_NAME_PATTERN,
    SEMVER_MAX,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    ScaleSubresource,
    age_column,
    ready_column,
)
from mlops_operator.api.model_version import check_semver, semver_rule
from mlops_operator.api.monitoring import ALERTS_MAX, AlertChannel
from mlops_operator.api.name_limits import (
    DEPLOYMENT_NAME_FORM_RULE,
    DEPLOYMENT_NAME_NOT_A_SERVER_RULE,
    DEPLOYMENT_NAME_RULE,
)
from mlops_operator.api.resources import ComputeResources, Scheduling
from mlops_operator.api.rollout import RolloutStrategy

FollowedStage = Literal["production", "staging"]

REPLICAS_MAX: Final = 100

#: one-shot rollout requests (promote, abort, retry) are written here as ``<action>/<token>``;
#: a new token asks again (see docs/deployments.md)
ROLLOUT_REQUEST_ANNOTATION: Final = "mlops.dev/rollout-request"


EXACTLY_ONE_SOURCE: Final = "set exactly one of version and followStage"
_IS_AB_TEST: Final = (
    "(has(self.strategy) && has(self.strategy.type) && self.strategy.type == 'ab-test')"
)
AB_TEST_SOURCE: Final = (
    "an ab-test serves the versions of strategy.abTest.variants: unset version and followStage"
)


class DeploymentSpec(WireModel):
    """Serve a Model: which versions, how traffic moves, and how the pods run."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                f"{_IS_AB_TEST} || has(self.version) != has(self.followStage)",
                EXACTLY_ONE_SOURCE,
            ),
            rule(
                f"!{_IS_AB_TEST} || (!has(self.version) && !has(self.followStage))",
                AB_TEST_SOURCE,
            ),
        )
    )

    model: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the Model (same namespace) to serve.",
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=SEMVER_MAX,
        json_schema_extra=validations(semver_rule("version")),
        description="Serve exactly this version (its ModelVersion must be Ready).",
    )
    follow_stage: FollowedStage | None = Field(
        default=None,
        description="Serve whichever version is in this stage (production or staging); when "
        "another version enters it, the strategy rolls it out.",
    )
    replicas: int = Field(
        default=1, ge=0, le=REPLICAS_MAX, description="Model server pods per served version."
    )
    strategy: RolloutStrategy = Field(
        default_factory=RolloutStrategy, description="direct, canary or ab-test, and mirroring."
    )
    resources: ComputeResources = Field(
        default_factory=ComputeResources, description="CPU, memory and GPUs of each server pod."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Node selector, tolerations and priority."
    )
    serving: ServingSpec = Field(
        default_factory=ServingSpec, description="Models in memory, warm-up and batching."
    )
    monitoring: DriftSpec = Field(
        default_factory=DriftSpec, description="Drift detection on live inputs."
    )
    progress_deadline_seconds: int = Field(
        default=300,
        ge=10,
        le=86_400,
        description="How long a new version's pods may take to become ready; past it the "
        "rollout fails and traffic stays on (or returns to) the stable version.",
    )
    paused: bool = Field(
        default=False,
        description="Hold the rollout where it is: weights stay, no step is judged "
        "(`kubectl mlops rollout pause|resume`).",
    )
    alerts: list[AlertChannel] = Field(
        default_factory=list,
        max_length=ALERTS_MAX,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Channels that hear about drift, rollbacks, promotions and failures.",
    )
    pool: str | None = Field(
        default=None,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Serve from the ServingPool of this name (same namespace) instead of pods of "
        "its own: its versions are placed on the pool's servers and routed by the pool's "
        "routers; the Service http://<deployment>.<namespace>.svc stays. replicas, resources "
        "and scheduling are then the pool's.",
    )
    storage_secret_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Secret in this namespace with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
        "and AWS_ENDPOINT_URL for the object store. Default: the operator's configured Secret "
        "name (mlops-s3).",
    )

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        return None if value is None else check_semver(value)

    @model_validator(mode="after")
    def _one_source(self) -> DeploymentSpec:
        if self.strategy.type == "ab-test":
            if self.version is not None or self.follow_stage is not None:
                raise ValueError(AB_TEST_SOURCE)
        elif (self.version is None) == (self.follow_stage is None):
            raise ValueError(EXACTLY_ONE_SOURCE)
        return self


class Deployment(CustomResource):
    """A served Model."""

    kind: Literal["Deployment"] = "Deployment"
    spec: DeploymentSpec
    status: DeploymentStatus = Field(default_factory=DeploymentStatus)


DEPLOYMENT: Final = ResourceKind(
    kind="Deployment",
    plural="deployments",
    singular="deployment",
    short_names=("mldeploy",),
    resource=Deployment,
    spec=DeploymentSpec,
    status=DeploymentStatus,
    description="Deployment (deployments.mlops.dev) serves a Model: an explicit version, the "
    "version in a stage, or the arms of an A/B test; rolled out directly or by canary steps "
    "with analysis gates and automatic rollback; with batching, drift monitoring and alerts. "
    "The operator runs a model server Deployment and Service per version and a router in front.",
    printer_columns=(
        PrinterColumn(name="Model", json_path=".spec.model", description="The Model served."),
        PrinterColumn(
            name="Stable", json_path=".status.stableVersion", description="Stable version."
        ),
        PrinterColumn(
            name="Canary", json_path=".status.canaryVersion", description="Version rolling out."
        ),
        PrinterColumn(
            name="Traffic", json_path=".status.trafficSummary", description="Weights by version."
        ),
        PrinterColumn(name="Phase", json_path=".status.phase", description="Rollout phase."),
        PrinterColumn(
            name="Step", json_path=".status.stepSummary", description="Canary step of total."
        ),
        ready_column(),
        age_column(),
        PrinterColumn(
            name="Replicas",
            json_path=".status.readyReplicas",
            type="integer",
            description="Ready server pods.",
            priority=1,
        ),
        PrinterColumn(
            name="Endpoint",
            json_path=".status.endpoint",
            description="Stable prediction endpoint.",
            priority=1,
        ),
    ),
    scale=ScaleSubresource(
        spec_replicas_path=".spec.replicas",
        status_replicas_path=".status.replicas",
        label_selector_path=".status.labelSelector",
    ),
    root_rules=(DEPLOYMENT_NAME_RULE, DEPLOYMENT_NAME_FORM_RULE, DEPLOYMENT_NAME_NOT_A_SERVER_RULE),
)
