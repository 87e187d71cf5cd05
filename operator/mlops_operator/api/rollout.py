"""How traffic moves to a new version: direct, canary steps with analysis gates, A/B test."""

from __future__ import annotations

import itertools
from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.meta import (
    SEMVER_MAX,
)
from mlops_operator.api.model_version import check_semver, semver_rule

StrategyType = Literal["direct", "canary", "ab-test"]
AbMetric = Literal["accuracy", "error-rate"]
AbTestMethod = Literal["msprt", "z-test"]
CanaryMethod = Literal["threshold", "sequential"]

STEPS_MAX: Final = 20
VARIANTS_MAX: Final = 4
HEADER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9-]*$"

CANARY_WEIGHTS_RANGE: Final = "canary step weights must be between 1 and 100"
CANARY_WEIGHTS_INCREASE: Final = "canary step weights must strictly increase, e.g. [10, 25, 50]"
AB_WEIGHTS_SUM: Final = "A/B variant weights must add up to 100"
AB_HORIZON: Final = "abTest.maxSamples must be at least abTest.minSamples"

StepWeight = Annotated[int, Field(ge=1, le=100)]


class CanaryAnalysis(WireModel):
    """The gate every canary step must pass, from the router's metrics of the new version."""

    method: CanaryMethod = Field(
        default="threshold",
        description="threshold: each step's requests are judged once, at the interval's end, "
        "against the limits below. sequential: the new version is compared with the stable "
        "one at every look on everything served since the canary began, with always-valid "
        "intervals (error rate, and the share of requests slower than the stable version's "
        "p99 bucket); it is rolled back as soon as it is shown worse than stable by more than "
        "maxErrorRateIncrease or maxSlowShareIncrease, and a step passes at its interval's end "
        "otherwise. The absolute limits (maxErrorRate, maxP99LatencyMs, maxLatencyRatio) "
        "apply to threshold only.",
    )

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
    max_error_rate_increase: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Highest amount by which the new version's error rate may exceed the "
        "stable version's in the same step (0.02: two points more); unset: not compared "
        "(threshold), 0 (sequential: any increase shown counts).",
    )
    max_latency_ratio: float | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Highest ratio of the new version's p99 latency to the stable version's "
        "in the same step (1.5: at most half again as slow); unset: not compared.",
    )
    max_slow_share_increase: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="sequential only: highest amount by which the new version's share of "
        "requests slower than the stable version's p99 bucket bound may exceed the stable "
        "version's share (0.02: two points more).",
    )
    significance_level: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="sequential only: the chance, at most, that a new version as good as the "
        "stable one is rolled back, however long and often it is looked at.",
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
    """Split traffic between versions and decide, with a significance test, which is better.

    The first variant is the control; every other variant is compared with it.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.maxSamples) || !has(self.minSamples) || "
                "self.maxSamples >= self.minSamples",
                AB_HORIZON,
            ),
        )
    )

    variants: list[AbVariant] = Field(
        min_length=2,
        max_length=VARIANTS_MAX,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["version"],
            **validations(rule("self.map(v, v.weight).sum() == 100", AB_WEIGHTS_SUM)),
        },
        description="The versions compared and their traffic weights (adding up to 100). The "
        "first is the control that the others are compared with.",
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
    method: AbTestMethod = Field(
        default="msprt",
        description="msprt: a mixture sequential probability ratio test, valid however often "
        "the result is looked at; it can stop as soon as the evidence is there, and ends "
        "without a winner at maxSamples. z-test: a fixed-horizon two-proportion z-test, "
        "evaluated once, when every arm has minSamples.",
    )
    significance_level: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Largest p-value at which a difference counts, for all comparisons with "
        "the control together (Bonferroni-corrected with three or four arms).",
    )
    min_samples: int = Field(
        default=500,
        ge=10,
        le=10_000_000,
        description="Samples each arm needs before the test is evaluated (the horizon of the "
        "z-test).",
    )
    max_samples: int = Field(
        default=20_000,
        ge=10,
        le=100_000_000,
        description="Samples per arm at which an msprt test without a significant difference "
        "ends with no difference.",
    )
    interval_seconds: int = Field(
        default=30, ge=5, le=86_400, description="How often the operator evaluates the test."
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
        if self.max_samples < self.min_samples:
            raise ValueError(AB_HORIZON)
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
