"""What an alert says: a title, the figures, Alertmanager-style labels and annotations.

One message per delivery, built from the alert record (and the live alert, when it is still
observed) — the same words on every channel; the adapters only lay them out for Slack,
email or an Alertmanager-compatible webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mlops_operator.alerting.alerts import Alert, ObjectRef
from mlops_operator.api.alert_status import AlertRecord, AlertState
from mlops_operator.api.monitoring import AlertEvent

ALERT_NAMES: Final[dict[AlertEvent, str]] = {
    "drift": "MlopsDriftDetected",
    "performance": "MlopsPerformanceDegraded",
    "rollback": "MlopsCanaryRolledBack",
    "promotion": "MlopsVersionPromoted",
    "failure": "MlopsRolloutFailed",
}
SEVERITY: Final[dict[AlertEvent, str]] = {
    "drift": "warning",
    "performance": "warning",
    "rollback": "warning",
    "promotion": "info",
    "failure": "critical",
}
HEADLINES: Final[dict[AlertEvent, str]] = {
    "drift": "Input drift detected",
    "performance": "Estimated accuracy below the test accuracy",
    "rollback": "Canary rolled back",
    "promotion": "Version promoted",
    "failure": "Failure",
}


@dataclass(frozen=True)
class AlertMessage:
    """Everything a channel sends about one alert in one state."""

    fingerprint: str
    state: AlertState
    event: AlertEvent
    version: str
    ref: ObjectRef
    title: str
    summary: str
    figures: tuple[tuple[str, str], ...]
    starts_at: datetime
    ends_at: datetime | None

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": ALERT_NAMES[self.event],
            "severity": SEVERITY[self.event],
            "event": self.event,
            "namespace": self.ref.namespace,
            "kind": self.ref.kind,
            "name": self.ref.name,
            "version": self.version,
        }

    @property
    def annotations(self) -> dict[str, str]:
        notes = {
            "summary": self.title,
            "description": self.summary,
            "object": self.ref.api_path,
            "kubectl": self.ref.kubectl,
        }
        notes.update({f"figure_{name}": value for name, value in self.figures})
        return notes

    @property
    def text(self) -> str:
        """Plain text: the title, what happened, the figures and where to look."""
        lines = [self.title, "", self.summary]
        if self.figures:
            lines += ["", *(f"{name}: {value}" for name, value in self.figures)]
        lines += ["", f"Object: {self.ref.api_path}", f"Look: {self.ref.kubectl}"]
        return "\n".join(lines)


def build_message(record: AlertRecord, alert: Alert | None, ref: ObjectRef) -> AlertMessage:
    """The message of ``record`` in its current state (``alert``: the live observation)."""
    headline = HEADLINES[record.event]
    where = f"{ref.namespace}/{ref.name} {record.version}"
    if record.state == "resolved":
        title = f"Resolved: {headline.lower()} on {where}"
    else:
        title = f"{headline} on {where}"
    return AlertMessage(
        fingerprint=record.fingerprint,
        state=record.state,
        event=record.event,
        version=record.version,
        ref=ref,
        title=title,
        summary=alert.summary if alert is not None else record.summary,
        figures=alert.figures if alert is not None else (),
        starts_at=record.since,
        ends_at=record.since if record.state == "resolved" else None,
    )
