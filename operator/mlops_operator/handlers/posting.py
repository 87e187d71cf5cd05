"""Events and retries: what every handler does with a reconcile's Outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from mlops_operator.kopf_config import backoff_seconds
from mlops_operator.metrics import OPERATOR_METRICS
from mlops_operator.reconcile.notes import Outcome


def post_notes(body: Mapping[str, Any], outcome: Outcome) -> None:
    """Post the reconcile's Events (and count the reconcile, by kind and result)."""
    OPERATOR_METRICS.count_reconcile(
        str(body.get("kind") or "Unknown"),
        "retry" if outcome.retry_after is not None else "success",
    )
    target = body if isinstance(body, kopf.Body) else kopf.Body(dict(body))  # type: ignore[arg-type]
    for note in outcome.notes:
        kopf.event(target, type=note.type, reason=note.reason, message=note.message)


def finish(body: Mapping[str, Any], outcome: Outcome, *, retry: int) -> None:
    """Post the Events; raise TemporaryError (growing delay) when the reconcile asks again."""
    post_notes(body, outcome)
    if outcome.retry_after is not None:
        delay = max(outcome.retry_after, backoff_seconds(retry))
        raise kopf.TemporaryError(outcome.retry_reason or "retrying", delay=delay)
