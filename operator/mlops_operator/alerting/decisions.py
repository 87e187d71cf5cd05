"""Which deliveries are due, and what the records say after them.

Per alert and channel, a delivery is due when the channel has not yet accepted the alert's
current state (a new alert, or its resolution), when a firing condition has gone unrepeated
for the channel's repeat interval, or when a failed attempt's backoff is over. Failed
attempts are retried with exponential backoff (``RETRY_FIRST`` doubling to ``RETRY_MAX``),
indefinitely: the failure shows in status and as a Warning Event, never silently. Records
live in the Deployment's status, so a restarted operator knows what it has already sent.

A condition alert (drift, failure) no longer observed turns resolved and each channel that
had heard it firing gets the resolved notice; a resolved record whose notices are all
delivered is dropped. A one-off notice (rollback, promotion) is kept while the reconciler
still observes it (so it is sent once) or some channel has not yet accepted it, and dropped
after. Only the channels in the spec now count: a channel removed from the spec holds
nothing up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from mlops_operator.alerting.alerts import CONDITION_EVENTS, Alert
from mlops_operator.api.alert_status import (
    ALERT_RECORDS_MAX,
    AlertRecord,
    AlertState,
    ChannelDelivery,
)
from mlops_operator.api.monitoring import AlertChannel

RETRY_FIRST: Final = timedelta(seconds=5)
RETRY_MAX: Final = timedelta(minutes=5)
MESSAGE_MAX: Final = 512


@dataclass(frozen=True)
class Dispatch:
    """One delivery to make now: this alert, in this state, to this channel."""

    channel: AlertChannel
    alert: Alert | None  # None for the resolved notice of an alert no longer observed
    record: AlertRecord

    @property
    def state(self) -> AlertState:
        return self.record.state


@dataclass(frozen=True)
class Outcome:
    """What the sender reports for one dispatch."""

    fingerprint: str
    channel: str
    state: AlertState
    ok: bool
    message: str = ""


def update_records(
    records: Sequence[AlertRecord],
    observed: Sequence[Alert],
    channels: Sequence[AlertChannel],
    *,
    now: datetime,
) -> list[AlertRecord]:
    """The records after this reconcile's observations (no deliveries decided yet)."""
    seen = {a.fingerprint: a for a in observed}
    kept: list[AlertRecord] = []
    for item in records:
        alert = seen.pop(item.fingerprint, None)
        if alert is not None:
            if item.state == "resolved":  # it came back: a new firing
                kept.append(_new_record(alert, now=now))
            else:
                kept.append(item.model_copy(update={"summary": alert.summary[:MESSAGE_MAX]}))
        elif item.event in CONDITION_EVENTS and item.state == "firing":
            resolved = item.model_copy(update={"state": "resolved", "since": now})
            if not _settled(resolved, channels):
                kept.append(resolved)
        elif not _settled(item, channels):
            kept.append(item)
    kept.extend(_new_record(alert, now=now) for alert in seen.values())
    return kept[-ALERT_RECORDS_MAX:]


def plan(
    records: Sequence[AlertRecord],
    observed: Sequence[Alert],
    channels: Sequence[AlertChannel],
    *,
    now: datetime,
) -> tuple[list[AlertRecord], list[Dispatch]]:
    """The updated records and the deliveries due now."""
    updated = update_records(records, observed, channels, now=now)
    alerts = {a.fingerprint: a for a in observed}
    due: list[Dispatch] = []
    for record in updated:
        for channel in channels:
            if record.event not in channel.events:
                continue
            if _due(record, channel, now=now):
                due.append(Dispatch(channel, alerts.get(record.fingerprint), record))
    return updated, due


def record(
    records: Sequence[AlertRecord],
    outcomes: Sequence[Outcome],
    channels: Sequence[AlertChannel],
    *,
    now: datetime,
) -> list[AlertRecord]:
    """The records with the senders' outcomes written into their deliveries; resolved records
    that every channel has accepted are dropped."""
    by_key = {(o.fingerprint, o.channel): o for o in outcomes}
    result = []
    for item in records:
        deliveries = {d.channel: d for d in item.deliveries}
        for (fingerprint, channel), outcome in by_key.items():
            if fingerprint == item.fingerprint and outcome.state == item.state:
                deliveries[channel] = _delivery(deliveries.get(channel), outcome, now=now)
        result.append(item.model_copy(update={"deliveries": list(deliveries.values())}))
    return [r for r in result if not (r.state == "resolved" and _settled(r, channels))]


def next_due(
    records: Sequence[AlertRecord], channels: Sequence[AlertChannel], *, now: datetime
) -> float | None:
    """Seconds until the next retry or repeat, or None when nothing is waiting."""
    times: list[datetime] = []
    for item in records:
        for channel in channels:
            if item.event not in channel.events:
                continue
            when = _due_at(item, channel)
            if when is not None:
                times.append(when)
    if not times:
        return None
    return max(0.0, (min(times) - now).total_seconds())


def _new_record(alert: Alert, *, now: datetime) -> AlertRecord:
    return AlertRecord(
        fingerprint=alert.fingerprint,
        event=alert.event,
        version=alert.version,
        state="firing",
        since=now,
        summary=alert.summary[:MESSAGE_MAX],
    )


def _settled(item: AlertRecord, channels: Sequence[AlertChannel]) -> bool:
    """Every channel that takes the event has accepted the record's state (a channel never
    told of a firing alert need not hear that it resolved)."""
    for channel in channels:
        if item.event not in channel.events:
            continue
        delivery = next((d for d in item.deliveries if d.channel == channel.name), None)
        if delivery is None:
            if item.state == "firing":
                return False
            continue
        if item.state == "resolved" and delivery.last_delivered is None:
            continue  # it never heard the firing either
        if delivery.state != item.state or delivery.result != "Delivered":
            return False
    return True


def _due(item: AlertRecord, channel: AlertChannel, *, now: datetime) -> bool:
    when = _due_at(item, channel)
    return when is not None and when <= now


def _due_at(item: AlertRecord, channel: AlertChannel) -> datetime | None:
    delivery = next((d for d in item.deliveries if d.channel == channel.name), None)
    if delivery is None or (item.state == "resolved" and delivery.last_delivered is None):
        # a channel never told of a firing alert need not hear that it resolved
        return None if item.state == "resolved" else item.since
    if delivery.result == "Failed":
        return delivery.next_attempt or item.since
    if delivery.state != item.state:
        return item.since
    repeat = channel.repeat_interval_seconds
    if item.state == "firing" and item.event in CONDITION_EVENTS and repeat > 0:
        last = delivery.last_delivered or item.since
        return last + timedelta(seconds=repeat)
    return None


def _delivery(
    before: ChannelDelivery | None, outcome: Outcome, *, now: datetime
) -> ChannelDelivery:
    if outcome.ok:
        return ChannelDelivery(
            channel=outcome.channel,
            state=outcome.state,
            result="Delivered",
            attempts=0,
            last_attempt=now,
            last_delivered=now,
        )
    same_state = before is not None and before.state == outcome.state
    attempts = (before.attempts if same_state and before is not None else 0) + 1
    backoff = min(RETRY_FIRST * (2 ** (attempts - 1)), RETRY_MAX)
    return ChannelDelivery(
        channel=outcome.channel,
        state=outcome.state,
        result="Failed",
        attempts=attempts,
        last_attempt=now,
        last_delivered=before.last_delivered if before is not None else None,
        next_attempt=now + backoff,
        message=outcome.message[:MESSAGE_MAX],
    )
