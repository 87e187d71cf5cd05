"""A Deployment's monitoring step: A/B verdict, drift status and alerts, from what was read.

The Deployment reconciler calls :func:`observe_monitoring` once per reconcile with what its
adapters read (the arms' counts, each served version's drift reports) and the one-off events
of the reconcile itself (a canary rolled back or completed, a rollout failed). The result is
typed status to write, the version to promote (an A/B winner under ``promoteWinner``), the
alert deliveries due, Events to post, and when to look again. No I/O here: the handler
promotes through :mod:`.promotion`, sends through ``adapters.alert_senders`` and writes the
senders' outcomes back with ``alerting.decisions.record``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mlops_operator.abtest.verdict import ArmCounts, evaluate
from mlops_operator.alerting.alerts import Alert, ObjectRef, figures
from mlops_operator.alerting.decisions import Dispatch, next_due, plan
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.conditions import Condition
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import AbTestResult, DriftReport, PerformanceReport
from mlops_operator.monitoring.drift_status import (
    VersionDrift,
    combine,
    drift_alerts,
    drift_condition,
)
from mlops_operator.monitoring.performance_status import (
    VersionPerformance,
    performance_alerts,
    performance_condition,
)
from mlops_operator.monitoring.performance_status import combine as combine_performance
from mlops_operator.reconcile.notes import Note


@dataclass(frozen=True)
class MonitoringInput:
    """What the reconciler read this time; None where nothing was read (not due, or off)."""

    arms: Sequence[ArmCounts] | None = None
    drift: Sequence[VersionDrift] | None = None
    performance: Sequence[VersionPerformance] | None = None
    reference_problem: str | None = None
    events: Sequence[Alert] = ()


@dataclass
class MonitoringUpdate:
    ab_test: AbTestResult | None
    drift: list[DriftReport]
    conditions: list[Condition]
    alerts: list[AlertRecord]
    dispatches: list[Dispatch]
    performance: list[PerformanceReport] = field(default_factory=list)
    promote: str | None = None
    notes: list[Note] = field(default_factory=list)
    requeue_after: float | None = None


def object_ref(deployment: Deployment) -> ObjectRef:
    return ObjectRef(
        kind="Deployment",
        namespace=deployment.metadata.namespace or "default",
        name=deployment.metadata.name,
    )


def observe_monitoring(
    deployment: Deployment, observed: MonitoringInput, *, now: datetime
) -> MonitoringUpdate:
    """Status, promotion, alerts and Events after this reconcile's reads."""
    spec, status = deployment.spec, deployment.status
    ref = object_ref(deployment)
    notes: list[Note] = []
    waits: list[float] = []

    ab_test = status.ab_test
    strategy = spec.strategy.ab_test
    if strategy is not None:
        if ab_test is None or not ab_test.concluded:
            waits.append(float(strategy.interval_seconds))
        if observed.arms is not None:
            ab_test = evaluate(strategy, observed.arms, previous=status.ab_test)
            notes += _ab_notes(status.ab_test, ab_test)
    promote = None
    if (
        strategy is not None
        and strategy.promote_winner
        and ab_test is not None
        and ab_test.decision == "Winner"
        and not ab_test.promoted
    ):
        promote = ab_test.winner

    drift = list(status.drift)
    performance = list(status.performance)
    conditions = list(status.conditions)
    if spec.monitoring.enabled:
        waits.append(float(spec.monitoring.interval_seconds))
        if observed.drift is not None:
            drift = [combine(v, monitoring=spec.monitoring, now=now) for v in observed.drift]
            unreadable = [u for v in observed.drift for u in v.unreadable]
            conditions = drift_condition(
                conditions,
                drift,
                unreadable=unreadable,
                reference_problem=observed.reference_problem,
                observed_generation=deployment.metadata.generation,
                now=now,
            )
            notes += _drift_notes(status.drift, drift)
        if observed.performance is not None:
            performance = [
                combine_performance(v, monitoring=spec.monitoring, now=now)
                for v in observed.performance
            ]
            conditions = performance_condition(
                conditions,
                performance,
                unreadable=[u for v in observed.performance for u in v.unreadable],
                observed_generation=deployment.metadata.generation,
                now=now,
            )
            notes += _performance_notes(status.performance, performance)

    alerts = [
        *(drift_alerts(ref, drift) if spec.monitoring.enabled else []),
        *(performance_alerts(ref, performance) if spec.monitoring.enabled else []),
        *_ab_alerts(ref, strategy is not None and strategy.promote_winner, ab_test),
        *observed.events,
    ]
    records, dispatches = plan(status.alerts, alerts, spec.alerts, now=now)
    due = next_due(records, spec.alerts, now=now)
    if due is not None:
        waits.append(max(due, 1.0))
    return MonitoringUpdate(
        ab_test=ab_test,
        drift=drift,
        performance=performance,
        conditions=conditions,
        alerts=records,
        dispatches=dispatches,
        promote=promote,
        notes=notes,
        requeue_after=min(waits) if waits else None,
    )


def _ab_alerts(ref: ObjectRef, promote_winner: bool, result: AbTestResult | None) -> list[Alert]:
    if result is None or not result.concluded:
        return []
    numbers = figures(
        p_value=result.p_value, **{f"samples_{v}": n for v, n in result.samples.items()}
    )
    if result.decision == "Winner" and result.winner and (result.promoted or not promote_winner):
        summary = (
            "promoted to production: " if result.promoted else "A/B winner: "
        ) + result.reason
        return [Alert(ref, "promotion", result.winner, summary, numbers)]
    if result.decision == "SampleRatioMismatch" and result.arms:
        control = result.arms[0].version
        return [Alert(ref, "failure", control, "A/B test stopped: " + result.reason, numbers)]
    return []


def _ab_notes(before: AbTestResult | None, after: AbTestResult | None) -> list[Note]:
    if after is None or not after.concluded or (before is not None and before.concluded):
        return []
    if after.decision == "SampleRatioMismatch":
        return [Note("Warning", "SampleRatioMismatch", after.reason)]
    return [Note("Normal", f"AbTest{after.decision}", after.reason)]


def _performance_notes(
    before: Sequence[PerformanceReport], after: Sequence[PerformanceReport]
) -> list[Note]:
    was = {r.version for r in before if r.degraded}
    now_degraded = {r.version for r in after if r.degraded}
    notes = [
        Note(
            "Warning",
            "PerformanceDegraded",
            f"{r.version}: estimated accuracy {r.accuracy.value:.3f} below test accuracy "
            f"{r.test_accuracy} - {r.margin:g}",
        )
        for r in after
        if r.version in now_degraded - was and r.accuracy is not None
    ]
    notes += [
        Note("Normal", "PerformanceRecovered", f"{version}: estimate back within the margin")
        for version in sorted(was - now_degraded)
    ]
    return notes


def _drift_notes(before: Sequence[DriftReport], after: Sequence[DriftReport]) -> list[Note]:
    was = {r.version for r in before if r.drifted}
    now_drifted = {r.version for r in after if r.drifted}
    notes = [
        Note("Warning", "DriftDetected", f"{r.version}: {r.feature} {r.method} {r.score:.4g}")
        for r in after
        if r.version in now_drifted - was
    ]
    notes += [
        Note("Normal", "DriftResolved", f"{version}: scores back under the threshold")
        for version in sorted(was - now_drifted)
    ]
    return notes
