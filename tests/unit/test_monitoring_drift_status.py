"""Pods' drift reports combined into status.drift, the DriftDetected condition and alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from mlops_core.drift import NumericReference, score_numeric
from mlops_core.drift_report import FeatureDriftScore, ModelDriftReport
from mlops_core.reference_stats import numeric_stats
from mlops_core.serving_spec import DriftSpec
from mlops_operator.alerting.alerts import ObjectRef
from mlops_operator.monitoring.drift_status import (
    VersionDrift,
    combine,
    drift_alerts,
    drift_condition,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MONITORING = DriftSpec(method="psi", threshold=0.2)


def _pod(version: str, **scores: tuple[float | None, int]) -> ModelDriftReport:
    return ModelDriftReport(
        model="fraud",
        version=version,
        method="psi",
        threshold=0.2,
        window_size=1000,
        drift_detected=False,
        features=[
            FeatureDriftScore(name=n, kind="numeric", score=s, samples=k, drifted=(s or 0) > 0.2)
            for n, (s, k) in scores.items()
        ],
    )


def test_scores_combine_as_the_sample_weighted_mean_over_pods() -> None:
    pods = [_pod("1.2.0", amount=(0.6, 300), age=(0.1, 300)), _pod("1.2.0", amount=(0.1, 900))]
    report = combine(VersionDrift("1.2.0", pods), monitoring=MONITORING, now=NOW)
    assert report.score == pytest.approx((0.6 * 300 + 0.1 * 900) / 1200)
    assert (report.feature, report.samples, report.pods) == ("amount", 1200, 2)
    assert report.drifted
    assert [f.name for f in report.top_features] == ["amount", "age"]


def test_pods_without_a_score_do_not_count() -> None:
    pods = [_pod("1.2.0", amount=(None, 20)), _pod("1.2.0", amount=(0.05, 500))]
    report = combine(VersionDrift("1.2.0", pods), monitoring=MONITORING, now=NOW)
    assert (report.score, report.samples, report.drifted) == (0.05, 500, False)


def test_the_combined_score_never_hides_the_drift_of_the_merged_window() -> None:
    """Convexity: the weighted mean of the pods' scores bounds the merged window's score."""
    rng = np.random.default_rng(11)
    stats = numeric_stats("x", rng.normal(size=20_000))
    ref = NumericReference.build(
        edges=stats.bin_edges,
        counts=stats.counts,
        std=stats.std,
        probabilities=stats.quantile_probabilities,
        quantiles=stats.quantiles,
    )
    for method in ("psi", "kl", "wasserstein"):
        windows = [rng.normal(0.3, 1.0, 400), rng.normal(0.0, 1.2, 700), rng.normal(0.5, 1, 300)]
        pods = [score_numeric(ref, w, method) for w in windows]
        weighted = sum(s * len(w) for s, w in zip(pods, windows, strict=True)) / 1400
        merged = score_numeric(ref, np.concatenate(windows), method)
        assert weighted >= merged * 0.98, method  # smoothing of empty bins aside


def test_the_condition_says_drift_no_drift_or_why_it_cannot_tell() -> None:
    drifted = combine(
        VersionDrift("1.2.0", [_pod("1.2.0", amount=(0.4, 1000))]), monitoring=MONITORING, now=NOW
    )
    fine = combine(
        VersionDrift("1.1.0", [_pod("1.1.0", amount=(0.05, 1000))]), monitoring=MONITORING, now=NOW
    )
    waiting = combine(
        VersionDrift("1.1.0", [_pod("1.1.0", amount=(None, 3))]), monitoring=MONITORING, now=NOW
    )
    nobody = combine(
        VersionDrift("1.1.0", [], ["pod-a: timed out"]), monitoring=MONITORING, now=NOW
    )

    def status(reports: list, **kw: object) -> tuple[str, str, str]:
        (c,) = drift_condition([], reports, observed_generation=3, now=NOW, **kw)  # type: ignore[arg-type]
        return c.status, c.reason, c.message

    state, reason, message = status([drifted, fine])
    assert (state, reason) == ("True", "DriftDetected")
    assert message == "1.2.0: amount psi 0.4 > 0.2 (1000 inputs over 1 pod)"
    assert status([fine])[:2] == ("False", "NoDrift")
    assert status([fine, waiting])[:2] == ("Unknown", "NotEnoughSamples")
    assert status([nobody], unreadable=["pod-a: timed out"]) == (
        "Unknown",
        "DriftUnreadable",
        "no server pod answered: pod-a: timed out",
    )
    assert (
        "monitoring.reference not used: missing feature 'age'"
        in status([fine], reference_problem="missing feature 'age'")[2]
    )


def test_a_drifted_version_raises_one_drift_alert_with_its_figures() -> None:
    reports = [
        combine(
            VersionDrift("1.2.0", [_pod("1.2.0", amount=(0.4, 1000))]),
            monitoring=MONITORING,
            now=NOW,
        ),
        combine(
            VersionDrift("1.1.0", [_pod("1.1.0", amount=(0.1, 1000))]),
            monitoring=MONITORING,
            now=NOW,
        ),
    ]
    ref = ObjectRef(kind="Deployment", namespace="fraud", name="scorer")
    (alert,) = drift_alerts(ref, reports)
    assert (alert.event, alert.version) == ("drift", "1.2.0")
    assert dict(alert.figures)["score"] == "0.4"
    assert dict(alert.figures)["feature"] == "amount"
