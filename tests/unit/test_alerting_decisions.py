"""Alert decisions: one alert per state change, repeats, resolved notices, retries, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.alerting.alerts import Alert, ObjectRef, figures, fingerprint
from mlops_operator.alerting.decisions import Outcome, next_due, plan, record
from mlops_operator.alerting.messages import build_message
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.monitoring import AlertChannel

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REF = ObjectRef(kind="Deployment", namespace="fraud", name="scorer")


def _channel(name: str = "hook", **over: Any) -> AlertChannel:
    spec: dict[str, Any] = {"name": name, "type": "webhook", "url": "http://127.0.0.1:9/x"}
    spec.update(over)
    return AlertChannel.model_validate(spec)


def _drift(version: str = "1.2.0", score: float = 0.41) -> Alert:
    return Alert(
        ref=REF,
        event="drift",
        version=version,
        summary=f"feature amount drifted: psi {score} > 0.2",
        figures=figures(score=score, threshold=0.2, feature="amount"),
    )


def _deliver(
    records: list[AlertRecord],
    due: list[Any],
    channels: list[AlertChannel],
    now: datetime,
    ok: bool = True,
) -> list[AlertRecord]:
    outcomes = [
        Outcome(d.record.fingerprint, d.channel.name, d.state, ok, "" if ok else "HTTP 500")
        for d in due
    ]
    return record(records, outcomes, channels, now=now)


def test_the_fingerprint_is_stable_and_tells_alerts_apart() -> None:
    assert _drift().fingerprint == fingerprint(REF, "drift", "1.2.0")
    assert len(_drift().fingerprint) == 16
    assert _drift().fingerprint != _drift("1.3.0").fingerprint
    other = ObjectRef(kind="Deployment", namespace="fraud", name="other")
    assert fingerprint(other, "drift", "1.2.0") != _drift().fingerprint


def test_one_alert_per_state_change_and_none_while_it_stays() -> None:
    channels = [_channel(repeat_interval_seconds=0)]
    records, due = plan([], [_drift()], channels, now=T0)
    assert [(d.channel.name, d.state) for d in due] == [("hook", "firing")]
    records = _deliver(records, due, channels, T0)
    for minute in range(1, 5):
        records, due = plan(records, [_drift()], channels, now=T0 + timedelta(minutes=minute))
        assert due == []
    records, due = plan(records, [], channels, now=T0 + timedelta(minutes=6))
    assert [(d.state, d.alert) for d in due] == [("resolved", None)]
    records = _deliver(records, due, channels, T0 + timedelta(minutes=6))
    assert records == []  # resolved and told: the record is gone


def test_a_condition_that_stays_bad_is_repeated_after_the_interval() -> None:
    channels = [_channel(repeat_interval_seconds=600)]
    records, due = plan([], [_drift()], channels, now=T0)
    records = _deliver(records, due, channels, T0)
    assert next_due(records, channels, now=T0) == 600
    _, due = plan(records, [_drift()], channels, now=T0 + timedelta(seconds=599))
    assert due == []
    _, due = plan(records, [_drift()], channels, now=T0 + timedelta(seconds=600))
    assert [d.state for d in due] == ["firing"]


def test_a_failed_delivery_is_retried_with_backoff_and_then_sent_once() -> None:
    channels = [_channel()]
    records, due = plan([], [_drift()], channels, now=T0)
    records = _deliver(records, due, channels, T0, ok=False)
    first = records[0].deliveries[0]
    assert (first.result, first.attempts, first.message) == ("Failed", 1, "HTTP 500")
    assert next_due(records, channels, now=T0) == 5
    _, due = plan(records, [_drift()], channels, now=T0 + timedelta(seconds=4))
    assert due == []
    now = T0 + timedelta(seconds=5)
    records, due = plan(records, [_drift()], channels, now=now)
    records = _deliver(records, due, channels, now, ok=False)
    assert records[0].deliveries[0].attempts == 2
    assert next_due(records, channels, now=now) == 10
    now += timedelta(seconds=10)
    records, due = plan(records, [_drift()], channels, now=now)
    assert len(due) == 1
    records = _deliver(records, due, channels, now)
    delivered = records[0].deliveries[0]
    assert (delivered.result, delivered.attempts, delivered.last_delivered) == ("Delivered", 0, now)
    _, due = plan(records, [_drift()], channels, now=now + timedelta(seconds=30))
    assert due == []


def test_the_backoff_is_capped() -> None:
    channels = [_channel()]
    records, due = plan([], [_drift()], channels, now=T0)
    now = T0
    for _ in range(12):
        records = _deliver(records, due, channels, now, ok=False)
        now += timedelta(seconds=next_due(records, channels, now=now) or 0)
        records, due = plan(records, [_drift()], channels, now=now)
    assert next_due(_deliver(records, due, channels, now, ok=False), channels, now=now) == 300


def test_records_in_status_survive_a_restart_and_nothing_is_sent_twice() -> None:
    channels = [_channel(repeat_interval_seconds=0), _channel("chat", type="slack", secretName="s")]
    records, due = plan([], [_drift()], channels, now=T0)
    records = _deliver(records, due, channels, T0)
    stored = [AlertRecord.model_validate(r.to_wire()) for r in records]  # status round trip
    _, due = plan(stored, [_drift()], channels, now=T0 + timedelta(seconds=1))
    assert due == []


def test_one_off_notices_go_once_and_are_dropped_when_no_longer_observed() -> None:
    channels = [_channel()]
    promotion = Alert(ref=REF, event="promotion", version="1.3.0", summary="A/B winner 1.3.0")
    records, due = plan([], [promotion], channels, now=T0)
    records = _deliver(records, due, channels, T0)
    records, due = plan(records, [promotion], channels, now=T0 + timedelta(hours=5))
    assert due == []  # no repeats for a notice
    records, due = plan(records, [], channels, now=T0 + timedelta(hours=6))
    assert (records, due) == ([], [])


def test_a_notice_not_yet_delivered_is_kept_even_when_no_longer_observed() -> None:
    channels = [_channel()]
    rollback = Alert(ref=REF, event="rollback", version="1.3.0", summary="p99 over the gate")
    records, due = plan([], [rollback], channels, now=T0)
    records = _deliver(records, due, channels, T0, ok=False)
    records, due = plan(records, [], channels, now=T0 + timedelta(minutes=1))
    assert [d.record.event for d in due] == ["rollback"]


def test_channels_hear_only_their_events_and_a_new_firing_follows_a_resolution() -> None:
    drift_only = _channel("a", events=["drift"])
    promotions = _channel("b", events=["promotion"])
    channels = [drift_only, promotions]
    records, due = plan([], [_drift()], channels, now=T0)
    assert [d.channel.name for d in due] == ["a"]
    records = _deliver(records, due, channels, T0)
    records, due = plan(records, [], channels, now=T0 + timedelta(minutes=1))
    records = _deliver(records, due, channels, T0 + timedelta(minutes=1))
    records, due = plan(records, [_drift()], channels, now=T0 + timedelta(minutes=2))
    assert [(d.channel.name, d.state) for d in due] == [("a", "firing")]


def test_a_channel_that_never_heard_the_firing_gets_no_resolved_notice() -> None:
    channels = [_channel(events=["drift"])]
    records, due = plan([], [_drift()], [], now=T0)  # no channel yet
    records, due = plan(records, [], channels, now=T0 + timedelta(minutes=1))
    assert (records, due) == ([], [])


def test_the_message_carries_what_happened_the_version_the_figures_and_the_object() -> None:
    channels = [_channel()]
    records, _ = plan([], [_drift()], channels, now=T0)
    message = build_message(records[0], _drift(), REF)
    assert message.title == "Input drift detected on fraud/scorer 1.2.0"
    assert message.labels["alertname"] == "MlopsDriftDetected"
    assert message.labels["version"] == "1.2.0"
    assert message.annotations["figure_score"] == "0.41"
    assert message.annotations["object"] == (
        "/apis/mlops.dev/v1alpha1/namespaces/fraud/deployments/scorer"
    )
    assert "kubectl -n fraud describe deployments.mlops.dev scorer" in message.text
    resolved = records[0].model_copy(update={"state": "resolved"})
    assert build_message(resolved, None, REF).title.startswith("Resolved: input drift detected")
