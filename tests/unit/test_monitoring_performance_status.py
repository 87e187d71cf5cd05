"""Pods' performance estimates combined into status.performance, PerformanceDegraded and the
performance alert (sent once while it lasts, resolved when the estimate recovers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_core.performance_report import IntervalEstimate, ModelPerformanceReport
from mlops_core.serving_spec import DriftSpec
from mlops_operator.alerting.decisions import Outcome, record
from mlops_operator.api.deployment import Deployment
from mlops_operator.monitoring.performance_status import (
    VersionPerformance,
    combine,
    performance_condition,
)
from mlops_operator.reconcile.deployment_monitoring import MonitoringInput, observe_monitoring

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MONITORING = DriftSpec(performance_margin=0.05)


def _pod(
    version: str,
    value: float | None,
    samples: int,
    *,
    half: float = 0.02,
    test: float | None = 0.95,
    calibrated: bool = True,
    realized: tuple[float, int] | None = None,
) -> ModelPerformanceReport:
    accuracy = None
    if value is not None:
        accuracy = IntervalEstimate(value=value, lower=value - half, upper=value + half)
    return ModelPerformanceReport(
        model="fraud",
        version=version,
        window_size=1000,
        calibrated=calibrated,
        samples=samples,
        accuracy=accuracy,
        test_accuracy=test,
        realized_accuracy=realized[0] if realized else None,
        realized_samples=realized[1] if realized else 0,
    )


def test_estimates_pool_by_window_length_and_intervals_by_variance() -> None:
    pods = [
        _pod("1.0.0", 0.90, 300, half=0.04, realized=(0.8, 10)),
        _pod("1.0.0", 0.80, 100, half=0.08, realized=(0.9, 30)),
    ]
    report = combine(VersionPerformance("1.0.0", pods), monitoring=MONITORING, now=NOW)
    assert report.accuracy is not None
    assert report.accuracy.value == pytest.approx(0.875)
    half = ((0.04 * 300) ** 2 + (0.08 * 100) ** 2) ** 0.5 / 400
    assert report.accuracy.upper - report.accuracy.value == pytest.approx(half)
    assert (report.samples, report.pods, report.realized_samples) == (400, 2, 40)
    assert report.realized_accuracy == pytest.approx(0.875)
    assert report.degraded  # 0.875 < 0.95 - 0.05


def test_the_condition_says_degraded_as_expected_or_why_it_cannot_tell() -> None:
    def judged(*pods: ModelPerformanceReport) -> tuple[str, str]:
        report = combine(VersionPerformance("1.0.0", pods), monitoring=MONITORING, now=NOW)
        (condition,) = performance_condition([], [report], observed_generation=3, now=NOW)
        return condition.status, condition.reason

    assert judged(_pod("1.0.0", 0.85, 500)) == ("True", "PerformanceDegraded")
    assert judged(_pod("1.0.0", 0.93, 500)) == ("False", "PerformanceAsExpected")
    assert judged(_pod("1.0.0", None, 0, calibrated=False)) == ("Unknown", "NotCalibrated")
    assert judged(_pod("1.0.0", None, 10)) == ("Unknown", "NotEnoughSamples")
    assert judged(_pod("1.0.0", 0.93, 500, test=None)) == ("Unknown", "NoTestAccuracy")
    assert judged() == ("Unknown", "PerformanceUnreadable")


def _deployment() -> Deployment:
    body: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "scorer", "namespace": "fraud", "generation": 2},
        "spec": {
            "model": "fraud",
            "version": "1.0.0",
            "monitoring": {"performanceMargin": 0.05},
            "alerts": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/"}],
        },
    }
    return Deployment.model_validate(body)


def test_a_degraded_estimate_alerts_once_and_resolves() -> None:
    deployment = _deployment()
    falling = MonitoringInput(performance=[VersionPerformance("1.0.0", [_pod("1.0.0", 0.8, 900)])])
    update = observe_monitoring(deployment, falling, now=NOW)
    (condition,) = [c for c in update.conditions if c.type == "PerformanceDegraded"]
    assert (condition.status, condition.observed_generation) == ("True", 2)
    assert "estimated accuracy 0.800" in condition.message
    assert [n.reason for n in update.notes] == ["PerformanceDegraded"]
    assert [(d.record.event, d.state) for d in update.dispatches] == [("performance", "firing")]
    outcomes = [Outcome(d.record.fingerprint, "hook", d.state, True) for d in update.dispatches]
    sent = record(update.alerts, outcomes, deployment.spec.alerts, now=NOW)
    stored = Deployment.model_validate(
        deployment.model_copy(
            update={
                "status": deployment.status.model_copy(
                    update={
                        "performance": update.performance,
                        "conditions": update.conditions,
                        "alerts": sent,
                    }
                )
            }
        ).to_wire()
    )
    assert observe_monitoring(stored, falling, now=NOW + timedelta(seconds=60)).dispatches == []
    calm = MonitoringInput(performance=[VersionPerformance("1.0.0", [_pod("1.0.0", 0.94, 900)])])
    resolved = observe_monitoring(stored, calm, now=NOW + timedelta(seconds=120))
    assert [(d.record.event, d.state) for d in resolved.dispatches] == [("performance", "resolved")]
    assert [n.reason for n in resolved.notes] == ["PerformanceRecovered"]
