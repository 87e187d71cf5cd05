"""The sequential canary gate: the new version against the stable one on everything served since
the canary began, at every look, with always-valid intervals (``statistics.non_inferiority``).

Two proportions are compared, each as "new minus stable" against a tolerance:

- the error rate (5xx answers), tolerance ``maxErrorRateIncrease`` (unset: 0);
- the share of requests slower than the latency bound, tolerance ``maxSlowShareIncrease``; the
  bound is the router histogram's bucket bound below the stable version's p99
  (``statistics.slow_share``).

Invariants: the step is failed the moment either interval lies wholly above its tolerance, at
any look; it passes only at its interval's end, with ``minRequests`` served by the new version
since the canary began and no evidence against it; before that it waits. An identical new
version is failed with probability at most ``significanceLevel`` over the whole rollout, however
often it is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from mlops_operator.api.deployment_status import (
    CounterSnapshot,
    IncreaseEstimate,
    SequentialAnalysis,
    Shown,
)
from mlops_operator.api.rollout import CanaryAnalysis
from mlops_operator.rollout.gates import Verdict
from mlops_operator.statistics import non_inferiority, slow_share

#: one value per simulated canary, or a 0-d array for the one canary the operator judges
Values = npt.NDArray[np.float64]

#: how often the sequential gate looks during a step (the threshold gate looks once, at its end)
LOOK_SECONDS: Final = 10.0
#: the latency compared: the share of requests slower than the bucket below this quantile
LATENCY_QUANTILE: Final = 0.99
#: the mixture is tightest at this many times ``minRequests`` requests (both versions together)
TUNED_REQUESTS_PER_MIN_REQUEST: Final = 20


def tuned_samples(analysis: CanaryAnalysis) -> float:
    """N* of the mixture: 20 × ``minRequests`` (1,000 by default), the size of a comparison a
    minute or two into a canary at moderate traffic."""
    return float(TUNED_REQUESTS_PER_MIN_REQUEST * analysis.min_requests)


@dataclass(frozen=True)
class Interval:
    """new − stable, with its always-valid interval; floats or arrays of many canaries."""

    canary: Values
    stable: Values
    increase: Values
    lower: Values
    upper: Values


@dataclass(frozen=True)
class Evidence:
    errors: Interval
    slow: Interval
    #: index of the latency bound in the histogram's bucket bounds
    bound_index: npt.NDArray[np.intp]


def _interval(
    analysis: CanaryAnalysis, events_new: Values, new: Values, events_stable: Values, stable: Values
) -> Interval:
    increase, lower, upper = non_inferiority.increase_interval(
        events_stable=events_stable,
        samples_stable=stable,
        events_new=events_new,
        samples_new=new,
        alpha=analysis.significance_level,
        tuned_samples=tuned_samples(analysis),
    )
    return Interval(events_new / new, events_stable / stable, increase, lower, upper)


def evidence(
    analysis: CanaryAnalysis,
    *,
    canary_requests: Values,
    canary_errors: Values,
    canary_buckets: Values,
    stable_requests: Values,
    stable_errors: Values,
    stable_buckets: Values,
) -> Evidence:
    """Both comparisons; requests must be at least 1 on each side (arrays: per canary, the
    buckets' last axis the cumulative histogram, +Inf last)."""
    index = slow_share.bound_index(stable_buckets, quantile=LATENCY_QUANTILE)
    errors = _interval(analysis, canary_errors, canary_requests, stable_errors, stable_requests)
    slow = _interval(
        analysis,
        slow_share.slower_than(canary_buckets, index),
        canary_requests,
        slow_share.slower_than(stable_buckets, index),
        stable_requests,
    )
    return Evidence(errors=errors, slow=slow, bound_index=index)


def error_tolerance(analysis: CanaryAnalysis) -> float:
    return analysis.max_error_rate_increase or 0.0


def shown_worse(analysis: CanaryAnalysis, found: Evidence) -> npt.NDArray[np.bool_]:
    """Either interval wholly above its tolerance."""
    errors = non_inferiority.shown_worse(found.errors.lower, tolerance=error_tolerance(analysis))
    slow = non_inferiority.shown_worse(found.slow.lower, tolerance=analysis.max_slow_share_increase)
    return np.logical_or(errors, slow)


def _estimate(interval: Interval, tolerance: float) -> IncreaseEstimate:
    lower, upper = float(interval.lower), float(interval.upper)
    shown: Shown = (
        "Worse" if lower > tolerance else "NonInferior" if upper <= tolerance else "Undecided"
    )
    return IncreaseEstimate(
        canary=float(interval.canary),
        stable=float(interval.stable),
        increase=float(interval.increase),
        lower=lower,
        upper=upper,
        tolerance=tolerance,
        shown=shown,
    )


def _points(value: float) -> str:
    return f"{value * 100:+.2f}"


def _said(name: str, estimate: IncreaseEstimate, level: float) -> str:
    return (
        f"{name} {estimate.canary * 100:.2f}% against stable's {estimate.stable * 100:.2f}%: "
        f"increase {_points(estimate.increase)} points, always-valid {1 - level:.0%} interval "
        f"[{_points(estimate.lower)}, {_points(estimate.upper)}]"
    )


def judge_sequential(
    analysis: CanaryAnalysis,
    canary: CounterSnapshot,
    stable: CounterSnapshot,
    bounds: list[float],
    *,
    interval_over: bool,
) -> tuple[Verdict, SequentialAnalysis]:
    """One look: ``canary`` and ``stable`` are what each served since the canary began."""
    level = analysis.significance_level
    report = SequentialAnalysis(
        canary_requests=canary.requests,
        stable_requests=stable.requests,
        significance_level=level,
    )
    if canary.requests < analysis.min_requests or stable.requests < 1:
        return Verdict(
            "Waiting",
            f"the new version served {canary.requests} of the {analysis.min_requests} requests "
            f"it needs (and the stable version {stable.requests}) before it is compared; "
            "waiting for more traffic",
        ), report
    histograms = len(bounds) > 1 and len(canary.buckets) == len(stable.buckets) == len(bounds)
    found = evidence(
        analysis,
        canary_requests=np.asarray(float(canary.requests)),
        canary_errors=np.asarray(float(canary.errors)),
        canary_buckets=np.asarray(canary.buckets if histograms else [0], dtype=np.float64),
        stable_requests=np.asarray(float(stable.requests)),
        stable_errors=np.asarray(float(stable.errors)),
        stable_buckets=np.asarray(stable.buckets if histograms else [0], dtype=np.float64),
    )
    errors = _estimate(found.errors, error_tolerance(analysis))
    slow = _estimate(found.slow, analysis.max_slow_share_increase) if histograms else None
    bound_ms = float(bounds[int(found.bound_index)]) * 1000.0 if histograms else None
    report = report.model_copy(
        update={"error_rate": errors, "slow_share": slow, "latency_bound_ms": bound_ms}
    )
    said = _said("error rate", errors, level)
    if slow is not None:
        said += "; " + _said(f"share slower than {bound_ms:g} ms", slow, level)
    if errors.shown == "Worse":
        return Verdict(
            "Failed",
            f"{said}: the error rate is shown above stable's by more than maxErrorRateIncrease "
            f"{errors.tolerance * 100:.2f} points",
            "maxErrorRateIncrease",
        ), report
    if slow is not None and slow.shown == "Worse":
        return Verdict(
            "Failed",
            f"{said}: the share of slow requests is shown above stable's by more than "
            f"maxSlowShareIncrease {slow.tolerance * 100:.2f} points",
            "maxSlowShareIncrease",
        ), report
    if interval_over:
        return Verdict("Passed", f"no evidence against it: {said}"), report
    return Verdict("Waiting", f"no evidence against it yet: {said}"), report
