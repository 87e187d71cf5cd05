"""The Deployment's monitoring step: A/B verdict and promotion, drift status, alerts, Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_core.drift_report import FeatureDriftScore, ModelDriftReport
from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.alerting.decisions import Outcome, record
from mlops_operator.api.deployment import Deployment
from mlops_operator.monitoring.drift_status import VersionDrift
from mlops_operator.reconcile.deployment_monitoring import MonitoringInput, observe_monitoring

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _deployment(**spec: Any) -> Deployment:
    body: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "scorer", "namespace": "fraud", "generation": 2},
        "spec": {
            "model": "fraud",
            "strategy": {
                "type": "ab-test",
                "abTest": {
                    "variants": [
                        {"version": "1.0.0", "weight": 50},
                        {"version": "1.1.0", "weight": 50},
                    ],
                    "minSamples": 200,
                    "promoteWinner": True,
                    "intervalSeconds": 20,
                },
            },
            "monitoring": {"threshold": 0.2, "intervalSeconds": 60},
            "alerts": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/"}],
            **spec,
        },
    }
    return Deployment.model_validate(body)


def _drift(version: str, score: float) -> VersionDrift:
    report = ModelDriftReport(
        model="fraud",
        version=version,
        method="psi",
        threshold=0.2,
        window_size=1000,
        drift_detected=score > 0.2,
        features=[
            FeatureDriftScore(
                name="amount", kind="numeric", score=score, samples=800, drifted=False
            )
        ],
    )
    return VersionDrift(version, [report])


def _with_status(deployment: Deployment, **status: Any) -> Deployment:
    return deployment.model_copy(update={"status": deployment.status.model_copy(update=status)})


def test_a_winner_is_promoted_then_announced_once() -> None:
    deployment = _deployment()
    arms = [ArmCounts("1.0.0", 1500, 1200), ArmCounts("1.1.0", 1500, 1350)]
    update = observe_monitoring(deployment, MonitoringInput(arms=arms), now=NOW)
    assert update.ab_test is not None
    assert (update.ab_test.decision, update.promote) == ("Winner", "1.1.0")
    assert [n.reason for n in update.notes] == ["AbTestWinner"]
    assert update.dispatches == []  # the promotion is announced once it has happened
    promoted = update.ab_test.model_copy(update={"promoted": True})
    after = observe_monitoring(
        _with_status(deployment, ab_test=promoted, alerts=update.alerts),
        MonitoringInput(arms=arms),
        now=NOW + timedelta(seconds=20),
    )
    assert after.promote is None
    assert after.notes == []
    (dispatch,) = after.dispatches
    assert (dispatch.record.event, dispatch.record.version) == ("promotion", "1.1.0")


def test_a_broken_split_stops_with_a_warning_and_a_failure_alert() -> None:
    arms = [ArmCounts("1.0.0", 600, 480), ArmCounts("1.1.0", 0, 0)]
    update = observe_monitoring(_deployment(), MonitoringInput(arms=arms), now=NOW)
    assert update.ab_test is not None
    assert update.ab_test.decision == "SampleRatioMismatch"
    assert update.promote is None
    assert [(n.type, n.reason) for n in update.notes] == [("Warning", "SampleRatioMismatch")]
    assert [(d.record.event, d.record.version) for d in update.dispatches] == [("failure", "1.0.0")]


def test_drift_sets_the_condition_alerts_once_and_resolves() -> None:
    deployment = _deployment()
    drifting = MonitoringInput(drift=[_drift("1.0.0", 0.05), _drift("1.1.0", 0.5)])
    update = observe_monitoring(deployment, drifting, now=NOW)
    (condition,) = [c for c in update.conditions if c.type == "DriftDetected"]
    assert (condition.status, condition.reason, condition.observed_generation) == (
        "True",
        "DriftDetected",
        2,
    )
    assert [n.reason for n in update.notes] == ["DriftDetected"]
    assert [(d.record.event, d.record.version, d.state) for d in update.dispatches] == [
        ("drift", "1.1.0", "firing")
    ]
    outcomes = [Outcome(d.record.fingerprint, "hook", d.state, True) for d in update.dispatches]
    sent = record(update.alerts, outcomes, deployment.spec.alerts, now=NOW)
    # a restarted operator reads the same status: nothing is sent twice
    stored = Deployment.model_validate(
        _with_status(
            deployment, drift=update.drift, conditions=update.conditions, alerts=sent
        ).to_wire()
    )
    again = observe_monitoring(stored, drifting, now=NOW + timedelta(seconds=60))
    assert again.dispatches == []
    assert again.notes == []
    calm = MonitoringInput(drift=[_drift("1.0.0", 0.05), _drift("1.1.0", 0.08)])
    resolved = observe_monitoring(stored, calm, now=NOW + timedelta(seconds=120))
    assert [(d.record.event, d.state) for d in resolved.dispatches] == [("drift", "resolved")]
    assert [n.reason for n in resolved.notes] == ["DriftResolved"]
    (condition,) = [c for c in resolved.conditions if c.type == "DriftDetected"]
    assert (condition.status, condition.reason) == ("False", "NoDrift")


def test_nothing_read_keeps_the_status_and_asks_for_the_next_look() -> None:
    deployment = _deployment()
    update = observe_monitoring(deployment, MonitoringInput(), now=NOW)
    assert (update.ab_test, update.drift, update.dispatches) == (None, [], [])
    assert update.requeue_after == 20  # the A/B interval is the shorter one


def test_one_off_events_of_the_reconcile_are_sent() -> None:
    from mlops_operator.alerting.alerts import Alert
    from mlops_operator.reconcile.deployment_monitoring import object_ref

    deployment = _deployment()
    rollback = Alert(object_ref(deployment), "rollback", "1.1.0", "p99 620 ms > 500 ms")
    update = observe_monitoring(deployment, MonitoringInput(events=[rollback]), now=NOW)
    assert [(d.record.event, d.record.version) for d in update.dispatches] == [
        ("rollback", "1.1.0")
    ]
