"""What a Deployment reports: traffic split, rollout progress, A/B result, drift, estimated
performance."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from mlops_core.drift import DriftMethod
from mlops_core.wire import WireModel
from mlops_operator.api.alert_status import ALERT_RECORDS_MAX, AlertRecord
from mlops_operator.api.conditions import ResourceStatus
from mlops_operator.api.meta import (
    SEMVER_MAX,
    VersionString,
)
from mlops_operator.api.rollout import (
    STEPS_MAX,
    VARIANTS_MAX,
    AbMetric,
    AbTestMethod,
    CanaryMethod,
)

DeploymentPhase = Literal[
    "Pending", "Progressing", "Paused", "Promoting", "Succeeded", "RolledBack", "Aborted"
]
StepDecision = Literal["Passed", "Failed", "Waiting"]
#: what the always-valid interval of "new minus stable" shows against the tolerance
Shown = Literal["Worse", "NonInferior", "Undecided"]
AbDecision = Literal["Running", "Winner", "NoDifference", "SampleRatioMismatch"]

SERVED_VERSIONS_MAX: Final = 8
ANALYSIS_MAX: Final = 20
#: histogram buckets of the router's latency (``mlops_router_request_duration_seconds``) + +Inf
BUCKETS_MAX: Final = 32
REASON_TEXT_MAX: Final = 512


class TrafficWeight(WireModel):
    """The share of traffic one version gets now."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    weight: int = Field(ge=0, le=100, description="Percent of traffic.")


class Measurement(WireModel):
    """What one version served during one canary step (counter deltas since the step began)."""

    requests: int = Field(default=0, ge=0, description="Requests answered in the step.")
    errors: int = Field(default=0, ge=0, description="Requests answered with 5xx in the step.")
    error_rate: float | None = Field(
        default=None, ge=0, le=1, description="errors / requests; unset without requests."
    )
    p99_latency_ms: float | None = Field(
        default=None, ge=0, description="p99 latency in ms (histogram buckets, interpolated)."
    )


class GateLimits(WireModel):
    """The limits a step was judged against (a copy of the analysis spec at the time)."""

    max_error_rate: float = Field(ge=0, le=1, description="Highest error rate.")
    max_p99_latency_ms: float = Field(ge=0, description="Highest p99 latency, ms.")
    min_requests: int = Field(ge=0, description="Fewest requests before judging.")
    max_error_rate_increase: float | None = Field(
        default=None, ge=0, le=1, description="Highest error-rate increase over stable."
    )
    max_latency_ratio: float | None = Field(
        default=None, ge=0, description="Highest p99 ratio over stable."
    )


class IncreaseEstimate(WireModel):
    """A proportion of the new version against the stable one's, since the canary began, with
    the always-valid interval of their difference (it holds at every look at once)."""

    canary: float = Field(ge=0, le=1, description="The new version's proportion.")
    stable: float = Field(ge=0, le=1, description="The stable version's proportion.")
    increase: float = Field(ge=-1, le=1, description="canary − stable.")
    lower: float = Field(description="Lower end of the increase's always-valid interval.")
    upper: float = Field(description="Upper end of the increase's always-valid interval.")
    tolerance: float = Field(ge=0, le=1, description="The increase allowed.")
    shown: Shown = Field(
        description="Worse: lower > tolerance; NonInferior: upper <= tolerance; else Undecided."
    )


class SequentialAnalysis(WireModel):
    """The sequential method's evidence at one look: everything served since the canary began."""

    canary_requests: int = Field(ge=0, description="Requests the new version answered.")
    stable_requests: int = Field(ge=0, description="Requests the stable version answered.")
    significance_level: float = Field(gt=0, lt=1, description="α of the intervals.")
    error_rate: IncreaseEstimate | None = Field(
        default=None,
        description="Share of requests answered with 5xx; unset before both versions have served.",
    )
    slow_share: IncreaseEstimate | None = Field(
        default=None, description="Share of requests slower than latencyBoundMs."
    )
    latency_bound_ms: float | None = Field(
        default=None,
        ge=0,
        description=(
            "The latency bound: the histogram bucket bound below the stable version's p99, or "
            "above it when that bucket also holds the stable version's median."
        ),
    )


class AnalysisRun(WireModel):
    """One judged canary step: what was measured, against which limits, and the decision."""

    step: int = Field(ge=0, le=STEPS_MAX, description="Index of the canary step, from 0.")
    weight: int = Field(ge=0, le=100, description="Canary weight during the step.")
    time: datetime = Field(description="When the step was judged.")
    canary: Measurement = Field(description="What the new version served in the step.")
    stable: Measurement = Field(description="What the stable version served in the step.")
    limits: GateLimits = Field(description="The gate's limits.")
    decision: StepDecision = Field(description="Passed, Failed or Waiting.")
    gate: str | None = Field(
        default=None, max_length=64, description="The gate that failed (e.g. maxP99LatencyMs)."
    )
    reason: str = Field(default="", max_length=REASON_TEXT_MAX, description="Why, in words.")
    method: CanaryMethod = Field(default="threshold", description="The analysis method.")
    sequential: SequentialAnalysis | None = Field(
        default=None, description="The sequential method's estimates and intervals."
    )


class CounterSnapshot(WireModel):
    """One version's router counters, summed over the router pods, when a step began."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    requests: int = Field(default=0, ge=0, description="Requests answered.")
    errors: int = Field(default=0, ge=0, description="Requests answered with 5xx.")
    buckets: list[int] = Field(
        default_factory=list,
        max_length=BUCKETS_MAX,
        description="Cumulative latency histogram counts, one per bucket bound (+Inf last).",
    )


class DrainingVersion(WireModel):
    """A version that gets no traffic any more; its pods go once in-flight requests end."""

    version: str = Field(max_length=SEMVER_MAX, description="The version.")
    since: datetime = Field(description="When its traffic went to 0.")


class RolloutState(WireModel):
    """Where the rollout of a new version is, kept in status so a restarted operator goes on
    from the same step."""

    target: str | None = Field(
        default=None, max_length=SEMVER_MAX, description="Version being rolled out."
    )
    started_at: datetime | None = Field(
        default=None, description="When the rollout of target began (for the progress deadline)."
    )
    step: int | None = Field(
        default=None, ge=0, le=STEPS_MAX, description="Canary step running (from 0)."
    )
    step_started_at: datetime | None = Field(default=None, description="When that step began.")
    baseline: list[CounterSnapshot] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Router counters at the start of the step (per-step deltas).",
    )
    canary_baseline: list[CounterSnapshot] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Router counters when the canary's first step began (the sequential "
        "analysis judges everything since).",
    )
    failed_version: str | None = Field(
        default=None,
        max_length=SEMVER_MAX,
        description="Version that failed (or was aborted); not rolled out again until the "
        "spec or the stage's version changes, or `kubectl mlops rollout retry`.",
    )
    failure: str | None = Field(
        default=None, max_length=REASON_TEXT_MAX, description="Why it failed."
    )
    handled_request: str | None = Field(
        default=None,
        max_length=128,
        description="The last mlops.dev/rollout-request annotation acted on.",
    )
    draining: list[DrainingVersion] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Versions whose pods go once their in-flight requests end.",
    )


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


class EstimatedMetric(WireModel):
    """A metric estimated without labels, and the 95% interval of its realized value."""

    value: float = Field(ge=0, le=1, description="The estimate.")
    lower: float = Field(ge=0, le=1, description="Lower end of the interval.")
    upper: float = Field(ge=0, le=1, description="Upper end of the interval.")


class PerformanceReport(WireModel):
    """The performance of one served version estimated from its calibrated probabilities
    (no labels needed), combined over its server pods, with the realized accuracy of the
    predictions that got a label beside it."""

    version: str = Field(max_length=SEMVER_MAX, description="Served version.")
    calibrated: bool = Field(
        description="Whether the version has a calibration map (versions trained before it "
        "existed are not estimated)."
    )
    accuracy: EstimatedMetric | None = Field(
        default=None, description="Estimated accuracy of the pods' last windows."
    )
    macro_f1: EstimatedMetric | None = Field(
        default=None, description="Estimated macro F1 (more than two classes)."
    )
    test_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="The version's accuracy on its test split."
    )
    margin: float = Field(ge=0, le=1, description="monitoring.performanceMargin when measured.")
    degraded: bool = Field(
        description="Whether the estimate is more than the margin below the test accuracy."
    )
    realized_accuracy: float | None = Field(
        default=None, ge=0, le=1, description="Accuracy of the last predictions given a label."
    )
    realized_samples: int = Field(default=0, ge=0, description="Labels behind it, all pods.")
    samples: int = Field(default=0, ge=0, description="Predictions estimated, all pods.")
    pods: int = Field(default=0, ge=0, description="Server pods whose estimates were read.")
    time: datetime = Field(description="When it was measured.")


class DeploymentStatus(ResourceStatus):
    """What is served, how traffic is split, and how the rollout is going."""

    phase: DeploymentPhase | None = Field(
        default=None,
        description="Pending, Progressing, Paused, Promoting, Succeeded, RolledBack or Aborted.",
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
    total_steps: int | None = Field(
        default=None, ge=0, le=STEPS_MAX, description="Canary steps of the rollout."
    )
    step_summary: str | None = Field(
        default=None, max_length=32, description="The step in words, e.g. 2/3."
    )
    rollout: RolloutState = Field(
        default_factory=RolloutState, description="The rollout's own bookkeeping."
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
    pool: str | None = Field(
        default=None,
        max_length=63,
        description="ServingPool whose routers the endpoint reaches (unset: the Deployment's "
        "own router).",
    )
    drift: list[DriftReport] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Latest drift score per served version.",
    )
    performance: list[PerformanceReport] = Field(
        default_factory=list,
        max_length=SERVED_VERSIONS_MAX,
        description="Latest performance estimate per served version.",
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
