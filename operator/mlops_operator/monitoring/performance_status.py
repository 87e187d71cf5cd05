"""From the performance reports of every server pod to ``status.performance``,
``PerformanceDegraded`` and the performance alerts.

How the pods' estimates combine: each pod estimates its own window (the predictions it served)
as a mean of calibrated top probabilities, so the estimate of the windows together is the
mean weighted by the windows' lengths. The realized accuracy of the pooled windows varies with
the sum of the pods' variances (independent predictions), so the pooled interval's half-width
is ``sqrt(Σ (h_i n_i)²) / Σ n_i`` for pod half-widths ``h_i`` (the normal interval of each pod
is ``z·sqrt(V_i)/n_i``). Macro F1 is not additive: its value and bounds are the weighted means
of the pods', a fair summary when the router spreads traffic evenly. The realized accuracy is
the weighted mean over the labels the pods received.

A version is degraded when its estimated accuracy is more than ``monitoring.performanceMargin``
below its test accuracy (its ``metrics.json``). The estimate assumes the calibration still
holds: inputs may shift, the relation of label to input may not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mlops_core.performance_report import IntervalEstimate, ModelPerformanceReport
from mlops_core.serving_spec import DriftSpec
from mlops_operator.alerting.alerts import Alert, ObjectRef, figures
from mlops_operator.api.conditions import Condition, ConditionStatus, set_condition
from mlops_operator.api.deployment_status import EstimatedMetric, PerformanceReport
from mlops_operator.monitoring.wording import pods_text

PERFORMANCE_DEGRADED: Final = "PerformanceDegraded"


@dataclass(frozen=True)
class VersionPerformance:
    """The pods' reports of one served version, and the pods that could not be read."""

    version: str
    reports: Sequence[ModelPerformanceReport]
    unreadable: Sequence[str] = ()  # "pod: why"


def _pooled_accuracy(reports: Sequence[ModelPerformanceReport]) -> EstimatedMetric | None:
    estimated = [(r.accuracy, r.samples) for r in reports if r.accuracy and r.samples > 0]
    total = sum(n for _, n in estimated)
    if not estimated or total == 0:
        return None
    value = sum(a.value * n for a, n in estimated) / total
    half = math.sqrt(sum(((a.upper - a.lower) / 2 * n) ** 2 for a, n in estimated)) / total
    return EstimatedMetric(value=value, lower=max(0.0, value - half), upper=min(1.0, value + half))


def _weighted(items: Sequence[tuple[IntervalEstimate, int]]) -> EstimatedMetric | None:
    total = sum(n for _, n in items)
    if not items or total == 0:
        return None
    return EstimatedMetric(
        value=sum(e.value * n for e, n in items) / total,
        lower=sum(e.lower * n for e, n in items) / total,
        upper=sum(e.upper * n for e, n in items) / total,
    )


def combine(
    observed: VersionPerformance, *, monitoring: DriftSpec, now: datetime
) -> PerformanceReport:
    """The version's combined report (no estimate while no pod has estimated one)."""
    reports = observed.reports
    accuracy = _pooled_accuracy(reports)
    macro_f1 = _weighted([(r.macro_f1, r.samples) for r in reports if r.macro_f1 and r.samples])
    tests = [r.test_accuracy for r in reports if r.test_accuracy is not None]
    test_accuracy = tests[0] if tests else None
    labelled = [(r.realized_accuracy, r.realized_samples) for r in reports if r.realized_samples]
    realized_samples = sum(n for _, n in labelled)
    realized = (
        sum((a or 0.0) * n for a, n in labelled) / realized_samples if realized_samples else None
    )
    margin = monitoring.performance_margin
    return PerformanceReport(
        version=observed.version,
        calibrated=bool(reports) and all(r.calibrated for r in reports),
        accuracy=accuracy,
        macro_f1=macro_f1,
        test_accuracy=test_accuracy,
        margin=margin,
        degraded=is_degraded(accuracy, test_accuracy, margin),
        realized_accuracy=realized,
        realized_samples=realized_samples,
        samples=sum(r.samples for r in reports if r.accuracy is not None),
        pods=len(reports),
        time=now,
    )


def is_degraded(accuracy: EstimatedMetric | None, test: float | None, margin: float) -> bool:
    """Whether the estimated accuracy is more than ``margin`` below the test accuracy."""
    return accuracy is not None and test is not None and accuracy.value < test - margin


def performance_condition(
    conditions: Sequence[Condition],
    reports: Sequence[PerformanceReport],
    *,
    unreadable: Sequence[str] = (),
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """``conditions`` with PerformanceDegraded set from the versions' reports.

    True (PerformanceDegraded) when a version's estimate is more than the margin below its
    test accuracy; False (PerformanceAsExpected) when every version has an estimate and a test
    accuracy and none is; Unknown while some version cannot be judged: NotCalibrated (a
    version without a calibration map), NoTestAccuracy, NotEnoughSamples, or
    PerformanceUnreadable when no pod could be read at all.
    """
    status: ConditionStatus
    degraded = [r for r in reports if r.degraded]
    if degraded:
        status, reason = "True", "PerformanceDegraded"
        message = "; ".join(_describe(r) for r in degraded)
    elif not reports or all(r.pods == 0 for r in reports):
        status, reason = "Unknown", "PerformanceUnreadable"
        message = "no server pod answered: " + "; ".join(unreadable[:4]) if unreadable else ""
        message = message or "no server pod to read the estimate from yet"
    elif any(not r.calibrated for r in reports):
        status, reason = "Unknown", "NotCalibrated"
        versions = ", ".join(r.version for r in reports if not r.calibrated)
        message = f"{versions} has no calibration map (trained before it existed): not estimated"
    elif any(r.accuracy is None for r in reports):
        status, reason = "Unknown", "NotEnoughSamples"
        waiting = ", ".join(r.version for r in reports if r.accuracy is None)
        message = f"too few predictions estimated yet for {waiting}"
    elif any(r.test_accuracy is None for r in reports):
        status, reason = "Unknown", "NoTestAccuracy"
        missing = ", ".join(r.version for r in reports if r.test_accuracy is None)
        message = f"{missing} has no test_accuracy to compare the estimate with"
    else:
        status, reason = "False", "PerformanceAsExpected"
        message = "; ".join(_describe(r) for r in reports)
    return set_condition(
        conditions,
        condition_type=PERFORMANCE_DEGRADED,
        status=status,
        reason=reason,
        message=message[:1024],
        observed_generation=observed_generation,
        now=now,
    )


def performance_alerts(ref: ObjectRef, reports: Sequence[PerformanceReport]) -> list[Alert]:
    """One firing performance alert per degraded version."""
    return [
        Alert(
            ref=ref,
            event="performance",
            version=r.version,
            summary=_describe(r),
            figures=figures(
                estimated_accuracy=r.accuracy.value if r.accuracy else None,
                lower=r.accuracy.lower if r.accuracy else None,
                upper=r.accuracy.upper if r.accuracy else None,
                test_accuracy=r.test_accuracy,
                margin=r.margin,
                samples=r.samples,
                pods=r.pods,
                realized_accuracy=r.realized_accuracy,
            ),
        )
        for r in reports
        if r.degraded
    ]


def _describe(report: PerformanceReport) -> str:
    accuracy = report.accuracy
    if accuracy is None or report.test_accuracy is None:
        return f"{report.version}: not estimated"
    comparison = "<" if report.degraded else ">="
    text = (
        f"{report.version}: estimated accuracy {accuracy.value:.3f} "
        f"[{accuracy.lower:.3f}, {accuracy.upper:.3f}] {comparison} test accuracy "
        f"{report.test_accuracy:.3f} - margin {report.margin:g} ({report.samples} predictions "
        f"over {pods_text(report.pods)})"
    )
    if report.realized_accuracy is not None:
        text += f"; realized {report.realized_accuracy:.3f} on {report.realized_samples} labels"
    return text
