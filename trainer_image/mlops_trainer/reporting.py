"""Where progress goes: a small reporter interface, JSON lines on stdout always.

Reporters must never fail training: ``Reporters`` calls each one and, when one raises, logs the
failure once and stops calling it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from mlops_core.progress import TrainingProgress, TrainingResult
from mlops_core.training_spec import TrainerConfig

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives the run's start, every epoch and the result (success or failure)."""

    def start(self, config: TrainerConfig, *, rank: int, world_size: int) -> None: ...
    def epoch(self, progress: TrainingProgress, *, samples_per_second: float) -> None: ...
    def finish(self, result: TrainingResult) -> None: ...


class JsonLinesReporter:
    """One JSON object per line: ``{"event": "start" | "epoch" | "result", ...}``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _emit(self, event: str, body: dict[str, Any]) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"event": event, **body}, sort_keys=False) + "\n")
        stream.flush()

    def start(self, config: TrainerConfig, *, rank: int, world_size: int) -> None:
        self._emit(
            "start",
            {
                "model": config.output.model_name,
                "version": config.output.version,
                "architecture": config.model.architecture,
                "epochs": config.training.epochs,
                "rank": rank,
                "worldSize": world_size,
            },
        )

    def epoch(self, progress: TrainingProgress, *, samples_per_second: float) -> None:
        body = progress.to_wire()
        body.pop("history", None)
        body["samplesPerSecond"] = round(samples_per_second, 1)
        self._emit("epoch", body)

    def finish(self, result: TrainingResult) -> None:
        self._emit("result", result.to_wire())


class Reporters:
    """Fan out to several reporters; a failing one is logged once and then skipped."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self._active: list[Reporter] = list(reporters)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        for reporter in list(self._active):
            try:
                getattr(reporter, method)(*args, **kwargs)
            except Exception as exc:  # a reporter must never fail training
                log.warning(
                    "%s failed (%s: %s); it is switched off for the rest of the run",
                    type(reporter).__name__,
                    type(exc).__name__,
                    " ".join(str(exc).split())[:300],
                )
                self._active.remove(reporter)

    def start(self, config: TrainerConfig, *, rank: int, world_size: int) -> None:
        self._call("start", config, rank=rank, world_size=world_size)

    def epoch(self, progress: TrainingProgress, *, samples_per_second: float) -> None:
        self._call("epoch", progress, samples_per_second=samples_per_second)

    def finish(self, result: TrainingResult) -> None:
        self._call("finish", result)
