"""Deployment (deployments.mlops.dev): serve a Model's versions behind a traffic router.

Which version(s): one explicit ``version``, or ``followStage`` (whatever version is in that
stage; a change rolls out with the strategy), or the variants of an A/B test. How a new version
arrives: ``direct``, ``canary`` steps gated by analysis of the router's per-version metrics, or
an ``ab-test`` that ends with a significance test.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.conditions import ResourceStatus
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
    VersionString,
    age_column,
    ready_column,
)
from mlops_operator.api.model_version import check_semver, semver_rule
from mlops_operator.api.resources import ComputeResources, Scheduling

StrategyType = Literal["direct", "canary", "ab-test"]
FollowedStage = Literal["production", "staging"]
AbMetric = Literal["accuracy", "error-rate"]
DriftMethod = Literal["psi", "kl", "wasserstein"]
AlertType = Literal["slack", "email", "webhook"]
AlertEvent = Literal["drift", "rollback", "promotion", "failure"]
DeploymentPhase = Literal["Pending", "Progressing", "Serving", "RolledBack", "Failed"]

REPLICAS_MAX: Final = 100
STEPS_MAX: Final = 20
VARIANTS_MAX: Final = 4
ALERTS_MAX: Final = 8
SERVED_VERSIONS_MAX: Final = 8
ANALYSIS_MAX: Final = 20
HEADER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9-]*$"

CANARY_WEIGHTS_RANGE: Final = "canary step weights must be between 1 and 100"
CANARY_WEIGHTS_INCREASE: Final = "canary step weights must strictly increase, e.g. [10, 25, 50]"
AB_WEIGHTS_SUM: Final = "A/B variant weights must add up to 100"

StepWeight = Annotated[int, Field(ge=1, le=100)]
EmailAddress = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class CanaryAnalysis(WireModel):
    """The gate every canary step must pass, from the router's metrics of the new version."""

    max_error_rate: float = Field(
        default=0.01, ge=0, le=1, description="Highest share of failed requests, 0..1."
    )
    max_p99_latency_ms: float = Field(
        default=500, gt=0, le=600_000, description="Highest p99 latency in milliseconds."
    )
    min_requests: int = Field(
        default=50,
        ge=1,
        le=10_000_000,
        description="Requests the new version must have served in the step before it is "
        "judged; with fewer the step waits.",
    )


class CanaryStrategy(WireModel):
    """Shift traffic to a new version step by step, rolling back when a step fails."""

    step_weights: list[StepWeight] = Field(
        default_factory=lambda: [10, 25, 50],
        min_length=1,
        max_length=STEPS_MAX,
        json_schema_extra=validations(
            rule("self.all(w, w >= 1 && w <= 100)", CANARY_WEIGHTS_RANGE),
            rule(
                "self.isSorted() && self.all(w, self.indexOf(w) == self.lastIndexOf(w))",
                CANARY_WEIGHTS_INCREASE,
            ),
        ),
        description="Percent of traffic the new version gets at each step. After the last "
        "step passes, it gets all traffic and becomes the stable version.",
    )
    interval_seconds: int = Field(
        default=60, ge=5, le=86_400, description="Time each step runs before its analysis."
    )
    analysis: CanaryAnalysis = Field(
        default_factory=CanaryAnalysis, description="Gate of every step."
    )

    @field_validator("step_weights")
    @classmethod
    def _strictly_increasing(cls, weights: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in itertools.pairwise(weights)):
            raise ValueError(CANARY_WEIGHTS_INCREASE)
        return weights


class AbVariant(WireModel):
    """One arm of an A/B test."""

    version: str = Field(
        min_length=1,
        max_length=SEMVER_MAX,
        json_schema_extra=validations(semver_rule("version")),
        description="Semantic version of the Model served by this arm.",
    )
    weight: int = Field(ge=0, le=100, description="Percent of traffic sent to this arm.")

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        return check_semver(value)


class AbTestStrategy(WireModel):
    """Split traffic between versions and decide, with a significance test, which is better."""

    variants: list[AbVariant] = Field(
        min_length=2,
        max_length=VARIANTS_MAX,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["version"],
            **validations(rule("self.map(v, v.weight).sum() == 100", AB_WEIGHTS_SUM)),
        },
        description="The versions compared and their traffic weights (adding up to 100).",
    )
    sticky_header: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=HEADER_PATTERN,
        description="Request header (e.g. x-user-id) whose value keeps a caller on one arm.",
    )
    metric: AbMetric = Field(
        default="accuracy",
        description="What is compared: accuracy (from labels sent to /v1/feedback) or "
        "error-rate (failed requests).",
    )
    significance_level: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Largest p-value at which a difference counts (two-proportion z-test).",
    )
    min_samples: int = Field(
        default=500,
        ge=10,
        le=10_000_000,
        description="Samples each arm needs before the test is evaluated.",
    )
    promote_winner: bool = Field(
        default=False,
        description="Promote the winning version to production when the test concludes.",
    )

    @model_validator(mode="after")
    def _weights(self) -> AbTestStrategy:
        if sum(item.weight for item in self.variants) != 100:
            raise ValueError(AB_WEIGHTS_SUM)
        versions = [item.version for item in self.variants]
        if len(set(versions)) != len(versions):
            raise ValueError(f"A/B variants list a version twice: {versions}")
        return self


class Mirror(WireModel):
    """Shadow traffic: a copy of some requests goes to another version; its answers are dropped."""

    version: str = Field(
        min_length=1,
        max_length=SEMVER_MAX,
        json_schema_extra=validations(semver_rule("mirror.version")),
        description="Semantic version that receives the copies.",
    )
    percent: float = Field(gt=0, le=100, description="Percent of requests copied.")

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        return check_semver(value, what="mirror.version")


class RolloutStrategy(WireModel):
    """How traffic moves to a new version."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.type) || self.type != 'ab-test' || has(self.abTest)",
                "strategy type ab-test needs strategy.abTest with its variants",
            ),
            rule(
                "(has(self.type) && self.type == 'ab-test') || !has(self.abTest)",
                "strategy.abTest applies only to strategy type ab-test",
            ),
            rule(
                "(has(self.type) && self.type == 'canary') || !has(self.canary)",
                "strategy.canary applies only to strategy type canary",
            ),
        )
    )

    type: StrategyType = Field(
        default="direct",
        description="direct (switch at once), canary (steps with analysis gates) or ab-test.",
    )
    canary: CanaryStrategy | None = Field(
        default=None, description="Canary steps and gates (type canary; defaults apply)."
    )
    ab_test: AbTestStrategy | None = Field(default=None, description="A/B test (type ab-test).")
    mirror: Mirror | None = Field(default=None, description="Optional shadow traffic.")

    @model_validator(mode="after")
    def _blocks_match_type(self) -> RolloutStrategy:
        if self.type == "ab-test" and self.ab_test is None:
            raise ValueError("strategy type ab-test needs strategy.abTest with its variants")
        if self.type != "ab-test" and self.ab_test is not None:
            raise ValueError("strategy.abTest applies only to strategy type ab-test")
        if self.type != "canary" and self.canary is not None:
            raise ValueError("strategy.canary applies only to strategy type canary")
        return self


class Batching(WireModel):
    """Dynamic batching: concurrent requests for one version share a forward pass."""

    enabled: bool = Field(default=True, description="Whether requests are batched.")
    max_batch_size: int = Field(default=32, ge=1, le=4096, description="Largest batch.")
    max_latency_ms: int = Field(
        default=5, ge=1, le=10_000, description="Longest a request waits for a batch to fill."
    )


class ServingOptions(WireModel):
    """Settings of the model server pods."""

    max_models_in_memory: int = Field(
        default=4, ge=1, le=64, description="Model versions kept loaded per pod (LRU)."
    )
    warmup: bool = Field(
        default=True, description="Run a dummy batch through a model before reporting ready."
    )
    batching: Batching = Field(default_factory=Batching, description="Dynamic batching.")


class DriftMonitoring(WireModel):
    """Compare live inputs with the training data's reference statistics."""

    enabled: bool = Field(default=True, description="Whether drift is scored.")
    method: DriftMethod = Field(
        default="psi", description="psi, kl (Kullback-Leibler) or wasserstein."
    )
    threshold: float = Field(
        default=0.2, gt=0, le=1000, description="Score above which a feature has drifted."
    )
    window_size: int = Field(
        default=1000, ge=10, le=1_000_000, description="Recent inputs per feature scored."
    )


class AlertChannel(WireModel):
    """Where alerts go."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.type != 'email' || (has(self.to) && size(self.to) > 0)",
                "an email channel needs to: the addresses to write to",
            ),
            rule(
                "self.type != 'slack' || has(self.secretName)",
                "a slack channel needs secretName: a Secret with the webhook URL under key url",
            ),
            rule(
                "self.type != 'webhook' || has(self.url) || has(self.secretName)",
                "a webhook channel needs url or secretName",
            ),
        )
    )

    name: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the channel, unique in the list.",
    )
    type: AlertType = Field(description="slack, email or webhook.")
    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Webhook URL (type webhook), when it is not a secret.",
    )
    secret_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Secret (same namespace) with the channel's credentials: key url for "
        "slack and webhook; host, port, username, password, from for email.",
    )
    to: list[EmailAddress] | None = Field(
        default=None, max_length=16, description="Recipients (type email)."
    )
    events: list[AlertEvent] = Field(
        default_factory=lambda: list[AlertEvent](["drift", "rollback", "promotion", "failure"]),
        max_length=4,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="What is reported: drift, rollback, promotion, failure.",
    )

    @model_validator(mode="after")
    def _has_target(self) -> AlertChannel:
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs to: the addresses to write to")
        if self.type == "slack" and self.secret_name is None:
            raise ValueError(
                "a slack channel needs secretName: a Secret with the webhook URL under key url"
            )
        if self.type == "webhook" and self.url is None and self.secret_name is None:
            raise ValueError("a webhook channel needs url or secretName")
        return self


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
    serving: ServingOptions = Field(
        default_factory=ServingOptions, description="Models in memory, warm-up and batching."
    )
    monitoring: DriftMonitoring = Field(
        default_factory=DriftMonitoring, description="Drift detection on live inputs."
    )
    alerts: list[AlertChannel] = Field(
        default_factory=list,
        max_length=ALERTS_MAX,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Channels that hear about drift, rollbacks, promotions and failures.",
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


class TrafficWeight(WireModel):
    """The share of traffic one version gets now."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    weight: int = Field(ge=0, le=100, description="Percent of traffic.")


class AnalysisRun(WireModel):
    """The result of one canary step's analysis."""

    step: int = Field(ge=0, le=STEPS_MAX, description="Index of the canary step, from 0.")
    time: datetime = Field(description="When the analysis ran.")
    requests: int = Field(ge=0, description="Requests the new version served in the step.")
    error_rate: float | None = Field(default=None, ge=0, le=1, description="Failed share.")
    p99_latency_ms: float | None = Field(default=None, ge=0, description="p99 latency, ms.")
    passed: bool = Field(description="Whether the step passed its gate.")
    message: str = Field(default="", max_length=512, description="Why it passed or failed.")


class AbTestResult(WireModel):
    """Where an A/B test stands."""

    metric: AbMetric = Field(description="What is compared.")
    samples: dict[str, int] = Field(
        default_factory=dict, max_length=VARIANTS_MAX, description="Samples per version."
    )
    values: dict[str, float] = Field(
        default_factory=dict, max_length=VARIANTS_MAX, description="Metric value per version."
    )
    p_value: float | None = Field(
        default=None, ge=0, le=1, description="p-value of the difference."
    )
    winner: VersionString | None = Field(
        default=None, description="The better version, once the test has concluded."
    )
    concluded: bool = Field(default=False, description="Whether the test has ended.")


class DriftReport(WireModel):
    """The latest drift score of one served version."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    method: DriftMethod = Field(description="psi, kl or wasserstein.")
    score: float = Field(ge=0, description="Highest score over the features.")
    feature: str | None = Field(
        default=None, max_length=128, description="Feature with that score."
    )
    drifted: bool = Field(description="Whether the score is above the threshold.")
    time: datetime = Field(description="When it was measured.")


class DeploymentStatus(ResourceStatus):
    """What is served, how traffic is split, and how the rollout is going."""

    phase: DeploymentPhase | None = Field(
        default=None, description="Pending, Progressing, Serving, RolledBack or Failed."
    )
    stable_version: VersionString | None = Field(
        default=None, description="Version that takes the traffic the candidate does not."
    )
    canary_version: VersionString | None = Field(
        default=None, description="Version being rolled out, during a canary."
    )
    traffic: list[TrafficWeight] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["version"],
        },
        description="Current traffic weights by version.",
    )
    traffic_summary: str | None = Field(
        default=None, max_length=256, description="The weights in one line, e.g. 1.2.0=90,1.3.0=10."
    )
    current_step: int | None = Field(
        default=None, ge=0, le=STEPS_MAX, description="Index of the canary step running now."
    )
    analysis: list[AnalysisRun] = Field(
        default_factory=list,
        max_length=ANALYSIS_MAX,
        description="Analyses of the current rollout's steps, oldest first.",
    )
    ab_test: AbTestResult | None = Field(default=None, description="The A/B test, if one runs.")
    endpoint: str | None = Field(
        default=None,
        max_length=512,
        description="URL of the router Service, the stable endpoint for predictions.",
    )
    drift: list[DriftReport] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Latest drift score per served version.",
    )
    replicas: int = Field(default=0, ge=0, description="Model server pods (for kubectl scale).")
    ready_replicas: int = Field(default=0, ge=0, description="Model server pods ready.")
    label_selector: str | None = Field(
        default=None,
        max_length=1024,
        description="Label selector of the server pods (for kubectl scale and autoscalers).",
    )


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
)
