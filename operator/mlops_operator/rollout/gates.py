"""One canary step judged on what it served: the canary's own limits, then the canary against
the stable version in the same step. Too few requests is no verdict: the step waits."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator.api.deployment_status import GateLimits, Measurement, StepDecision
from mlops_operator.api.rollout import CanaryAnalysis


@dataclass(frozen=True)
class Verdict:
    decision: StepDecision
    reason: str
    #: the gate that failed, by its field name in strategy.canary.analysis
    gate: str | None = None


def limits_of(analysis: CanaryAnalysis) -> GateLimits:
    return GateLimits(
        max_error_rate=analysis.max_error_rate,
        max_p99_latency_ms=analysis.max_p99_latency_ms,
        min_requests=analysis.min_requests,
        max_error_rate_increase=analysis.max_error_rate_increase,
        max_latency_ratio=analysis.max_latency_ratio,
    )


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def judge(analysis: CanaryAnalysis, canary: Measurement, stable: Measurement) -> Verdict:
    if canary.requests < analysis.min_requests:
        return Verdict(
            "Waiting",
            f"the new version served {canary.requests} of the {analysis.min_requests} requests "
            "the step needs before it is judged; waiting for more traffic",
        )
    rate = canary.error_rate or 0.0
    if rate > analysis.max_error_rate:
        return Verdict(
            "Failed",
            f"error rate {_pct(rate)} ({canary.errors} of {canary.requests}) is above "
            f"maxErrorRate {_pct(analysis.max_error_rate)}",
            "maxErrorRate",
        )
    p99 = canary.p99_latency_ms
    if p99 is not None and p99 > analysis.max_p99_latency_ms:
        return Verdict(
            "Failed",
            f"p99 latency {p99:.1f} ms is above maxP99LatencyMs {analysis.max_p99_latency_ms:g} ms",
            "maxP99LatencyMs",
        )
    increase = analysis.max_error_rate_increase
    if increase is not None and stable.requests > 0:
        stable_rate = stable.error_rate or 0.0
        if rate - stable_rate > increase:
            return Verdict(
                "Failed",
                f"error rate {_pct(rate)} exceeds the stable version's {_pct(stable_rate)} by "
                f"more than maxErrorRateIncrease {_pct(increase)}",
                "maxErrorRateIncrease",
            )
    ratio = analysis.max_latency_ratio
    stable_p99 = stable.p99_latency_ms
    if ratio is not None and p99 is not None and stable_p99 and p99 / stable_p99 > ratio:
        return Verdict(
            "Failed",
            f"p99 latency {p99:.1f} ms is {p99 / stable_p99:.2f}× the stable version's "
            f"{stable_p99:.1f} ms, above maxLatencyRatio {ratio:g}",
            "maxLatencyRatio",
        )
    shown = "n/a" if p99 is None else f"{p99:.1f} ms"
    return Verdict(
        "Passed",
        f"{canary.requests} requests, error rate {_pct(rate)}, p99 {shown}: within the limits",
    )
