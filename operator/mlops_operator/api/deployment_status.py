"""What a Deployment reports: traffic split, rollout progress, A/B result, drift."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from mlops_core.wire import WireModel
from mlops_operator.api.alert_status import ALERT_RECORDS_MAX, AlertRecord
from mlops_operator.api.conditions import ResourceStatus
from mlops_operator.api.meta import (
    SEMVER_MAX,
    VersionString,
)
from mlops_operator.api.monitoring import DriftMethod
from mlops_operator.api.rollout import STEPS_MAX, VARIANTS_MAX, AbMetric, AbTestMethod

DeploymentPhase = Literal["Pending", "Progressing", "Serving", "RolledBack", "Failed"]
AbDecision = Literal["Running", "Winner", "NoDifference", "SampleRatioMismatch"]

SERVED_VERSIONS_MAX: Final = 8
ANALYSIS_MAX: Final = 20


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


class AbArmResult(WireModel):
    """One arm of an A/B test: its samples and its metric with a confidence interval."""

    version: VersionString = Field(description="Version served by the arm.")
    weight: int = Field(ge=0, le=100, description="Configured percent of traffic.")
    control: bool = Field(default=False, description="Whether this arm is the control.")
    samples: int = Field(ge=0, description="Samples (labelled predictions or requests).")
    successes: int = Field(
        ge=0, description="Correct predictions (accuracy) or failed requests (error-rate)."
    )
    value: float | None = Field(default=None, ge=0, le=1, description="The metric, 0..1.")
    ci_lower: float | None = Field(
        default=None, ge=0, le=1, description="Lower end of the metric's confidence interval."
    )
    ci_upper: float | None = Field(
        default=None, ge=0, le=1, description="Upper end of the metric's confidence interval."
    )
    p_value: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="p-value of the difference from the control (always-valid for msprt, "
        "corrected for the number of comparisons); unset for the control.",
    )


class AbTestResult(WireModel):
    """Where an A/B test stands."""

    metric: AbMetric = Field(description="What is compared.")
    method: AbTestMethod = Field(default="msprt", description="msprt or z-test.")
    samples: dict[str, int] = Field(
        default_factory=dict, max_length=VARIANTS_MAX, description="Samples per version."
    )
    values: dict[str, float] = Field(
        default_factory=dict, max_length=VARIANTS_MAX, description="Metric value per version."
    )
    arms: list[AbArmResult] = Field(
        default_factory=list,
        max_length=VARIANTS_MAX,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["version"],
        },
        description="Per arm: samples, metric and confidence interval; the control first.",
    )
    p_value: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Smallest corrected p-value over the comparisons with the control "
        "(always-valid for msprt: it only ever falls).",
    )
    sample_ratio_p_value: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="p-value of the chi-square test of the observed split against the weights.",
    )
    decision: AbDecision = Field(
        default="Running",
        description="Running, Winner, NoDifference (horizon reached) or SampleRatioMismatch "
        "(the split does not match the weights; the test stopped).",
    )
    reason: str = Field(default="", max_length=512, description="Why, with the figures.")
    winner: VersionString | None = Field(
        default=None, description="The better version, once the test has concluded."
    )
    concluded: bool = Field(default=False, description="Whether the test has ended.")
    promoted: bool = Field(
        default=False, description="Whether the winner has been promoted to production."
    )


class FeatureDrift(WireModel):
    """The combined score of one feature."""

    name: str = Field(max_length=256, description="Feature.")
    score: float = Field(ge=0, description="Score, combined over the pods.")
    samples: int = Field(ge=0, description="Window values behind it, over all pods.")


class DriftReport(WireModel):
    """The latest drift score of one served version, combined over its server pods: per
    feature, the sample-weighted mean of the pods' scores."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    method: DriftMethod = Field(description="psi, kl or wasserstein.")
    threshold: float | None = Field(default=None, gt=0, description="Score that counts as drift.")
    score: float | None = Field(
        default=None, ge=0, description="Highest score over the features (unset: too few samples)."
    )
    feature: str | None = Field(
        default=None, max_length=128, description="Feature with that score."
    )
    drifted: bool = Field(description="Whether the score is above the threshold.")
    time: datetime = Field(description="When it was measured.")
    samples: int = Field(default=0, ge=0, description="Window values of that feature, all pods.")
    pods: int = Field(default=0, ge=0, description="Server pods whose scores were read.")
    reference: str = Field(
        default="training",
        max_length=1024,
        description="The reference scored against: training, or the URI of monitoring.reference.",
    )
    top_features: list[FeatureDrift] = Field(
        default_factory=list, max_length=5, description="The highest-scoring features."
    )


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
    alerts: list[AlertRecord] = Field(
        default_factory=list,
        max_length=ALERT_RECORDS_MAX,
        description="Alerts sent or being sent, with the last delivery per channel (the "
        "operator's memory, so a restart neither loses nor repeats one).",
    )
    replicas: int = Field(default=0, ge=0, description="Model server pods (for kubectl scale).")
    ready_replicas: int = Field(default=0, ge=0, description="Model server pods ready.")
    label_selector: str | None = Field(
        default=None,
        max_length=1024,
        description="Label selector of the server pods (for kubectl scale and autoscalers).",
    )
