"""What a reconcile asks its handler to do besides writing status: post Events, retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mlops_operator.alerting.decisions import Dispatch
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.monitoring import AlertChannel

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Note:
    """An Event to post on the reconciled object."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class AlertBatch:
    """Alert deliveries a reconcile found due, for the handler to send (reconcilers never talk
    to Slack, webhooks or SMTP), with the records and channels to write the outcomes into."""

    namespace: str
    name: str
    records: list[AlertRecord]
    dispatches: list[Dispatch]
    channels: list[AlertChannel]


@dataclass
class Outcome:
    notes: list[Note] = field(default_factory=list)
    #: retry the reconcile after this many seconds (a passing fault or a wait)
    retry_after: float | None = None
    retry_reason: str = ""
    #: look again after this many seconds (timed work: a canary interval, trials to poll),
    #: through the operator-wide requeue rather than kopf's backoff
    requeue_after: float | None = None
    #: alert deliveries due, sent by the handler
    alerts: AlertBatch | None = None
    #: other objects whose input this reconcile changed, (kind, namespace, name): looked at now
    wake: list[tuple[str, str, str]] = field(default_factory=list)

    def retry(self, seconds: float, reason: str) -> None:
        self.retry_after = seconds
        self.retry_reason = reason

    def requeue(self, seconds: float) -> None:
        """Ask for a timed look; the soonest of several requests wins."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds
