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

    def retry(self, seconds: float, reason: str) -> None:
        self.retry_after = seconds
        self.retry_reason = reason
