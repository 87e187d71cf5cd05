"""What a reconcile asks its handler to do besides writing status: post Events, retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Note:
    """An Event to post on the reconciled object."""

    type: EventType
    reason: str
    message: str


@dataclass
class Outcome:
    notes: list[Note] = field(default_factory=list)
    #: retry the reconcile after this many seconds (a passing fault or a wait)
    retry_after: float | None = None
    retry_reason: str = ""
    #: look again after this many seconds (timed work: a canary interval, trials to poll),
    #: through the operator-wide requeue rather than kopf's backoff
    requeue_after: float | None = None

    def retry(self, seconds: float, reason: str) -> None:
        self.retry_after = seconds
        self.retry_reason = reason

    def requeue(self, seconds: float) -> None:
        """Ask for a timed look; the soonest of several requests wins."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds
