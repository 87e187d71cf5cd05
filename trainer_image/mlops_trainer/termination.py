"""The pod's termination message: the run's ``TrainingResult`` as JSON, at most 4 KiB."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from mlops_core.progress import TERMINATION_MESSAGE_MAX, TrainingResult

log = logging.getLogger(__name__)
PATH_ENV = "MLOPS_TERMINATION_MESSAGE_PATH"
DEFAULT_PATH = "/dev/termination-log"


def one_line(text: str, limit: int = 1024) -> str:
    """Collapse whitespace to one line and cut to ``limit`` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def termination_message(result: TrainingResult, limit: int = TERMINATION_MESSAGE_MAX) -> bytes:
    """Compact JSON of ``result`` within ``limit`` bytes: metrics are dropped (test first,
    then the rest, one by one), then the reason is shortened; the result stays valid JSON."""
    current = result.model_copy(
        update={"reason": one_line(result.reason) if result.reason else None}
    )
    while True:
        data = json.dumps(current.to_wire(), separators=(",", ":")).encode()
        if len(data) <= limit:
            return data
        if current.metrics:
            ordered = sorted(current.metrics, key=lambda k: (not k.startswith("test_"), k))
            metrics = dict(current.metrics)
            metrics.pop(ordered[0])
            current = current.model_copy(update={"metrics": metrics})
        elif current.reason and len(current.reason) > 16:
            excess = len(data) - limit
            current = current.model_copy(
                update={
                    "reason": one_line(current.reason, max(16, len(current.reason) - excess - 8))
                }
            )
        else:
            raise ValueError(f"a TrainingResult cannot fit in {limit} bytes: {data[:80]!r}")


def write_termination_message(result: TrainingResult, path: str | None = None) -> None:
    """Write to ``$MLOPS_TERMINATION_MESSAGE_PATH``, else to /dev/termination-log when it exists
    (the kubelet provides it in a pod). A path that cannot be written is logged, never fatal."""
    chosen = path or os.environ.get(PATH_ENV)
    target = Path(chosen or DEFAULT_PATH)
    if not chosen and not target.exists():
        return
    try:
        target.write_bytes(termination_message(result))
    except OSError as exc:
        log.warning("cannot write the termination message to %s: %s", target, exc.strerror)
