"""What an alert is about: the object, the event, the version, and the figures behind it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from mlops_operator.api.alert_status import FINGERPRINT_LENGTH
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.monitoring import AlertEvent

#: events that describe a lasting condition: repeated while it lasts, resolved when it clears
CONDITION_EVENTS: Final[frozenset[AlertEvent]] = frozenset({"drift", "performance", "failure"})


@dataclass(frozen=True)
class ObjectRef:
    """The object an alert is about, in a form a link or ``kubectl`` can use."""

    kind: str
    namespace: str
    name: str

    @property
    def api_path(self) -> str:
        """The object's path on the API server, e.g. for a dashboard link."""
        plural = self.kind.lower() + "s"
        return f"/apis/{API_VERSION}/namespaces/{self.namespace}/{plural}/{self.name}"

    @property
    def kubectl(self) -> str:
        return f"kubectl -n {self.namespace} describe {self.kind.lower()}s.mlops.dev {self.name}"


@dataclass(frozen=True)
class Alert:
    """Something the channels should hear about, as a reconciler observes it now.

    ``event`` in CONDITION_EVENTS is a condition (firing while observed, resolved when no longer
    observed); rollback and promotion are one-off notices, sent once per version.
    """

    ref: ObjectRef
    event: AlertEvent
    version: str
    summary: str
    figures: tuple[tuple[str, str], ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.ref, self.event, self.version)

    @property
    def is_condition(self) -> bool:
        return self.event in CONDITION_EVENTS


def fingerprint(ref: ObjectRef, event: AlertEvent, version: str) -> str:
    """Stable across restarts and replicas: a hash of kind, namespace, name, event, version."""
    key = "\x1f".join((ref.kind, ref.namespace, ref.name, event, version))
    return hashlib.sha256(key.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def figures(**values: float | int | str | None) -> tuple[tuple[str, str], ...]:
    """Figures as ordered (name, text) pairs; floats to 4 significant digits, None left out."""
    shown = []
    for name, value in values.items():
        if value is None:
            continue
        shown.append((name, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return tuple(shown)
