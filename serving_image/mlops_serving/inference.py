"""The path every protocol shares: resolve the version, predict, count, issue prediction ids."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mlops_core.artifact_config import ArtifactConfig
from mlops_serving.errors import InvalidInputError, ServingError
from mlops_serving.feedback import FeedbackBook, PredictionRecord, new_prediction_id
from mlops_serving.inputs import Record
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.prediction_activity import PredictionActivity
from mlops_serving.served_model import Prediction


@dataclass(frozen=True)
class InferenceResult:
    model: str
    version: str
    predictions: list[Prediction]
    prediction_ids: list[str]
    class_labels: list[str]
    latency_s: float


@dataclass
class Inference:
    """What the protocol routes need: repository, metrics and the feedback book; and, when the
    server explains, where it notes that a prediction begins (the workers pace by it)."""

    repository: ModelRepository
    metrics: ServerMetrics
    feedback: FeedbackBook
    activity: PredictionActivity | None = None

    async def run(
        self,
        name: str,
        version: str | None,
        to_records: Callable[[ArtifactConfig], list[Record]],
    ) -> InferenceResult:
        started = time.perf_counter()
        if self.activity is not None:
            self.activity.mark()
        served = await self.repository.get(name, version)
        served.in_flight += 1  # held: an eviction waits for this request
        try:
            records = to_records(served.artifact.config)
            predictions = await served.predict(records)
        except ServingError:
            served.errors.inc()
            raise
        except Exception as exc:
            served.errors.inc()
            raise InvalidInputError(f"prediction failed: {type(exc).__name__}: {exc}") from exc
        finally:
            served.in_flight -= 1
        elapsed = time.perf_counter() - started
        served.latency.observe(elapsed)
        served.predictions.inc(len(predictions))
        ids = [new_prediction_id(served.version) for _ in predictions]
        for pid, prediction in zip(ids, predictions, strict=True):
            self.feedback.record(
                pid, PredictionRecord(served.name, served.version, prediction.label)
            )
        return InferenceResult(
            model=served.name,
            version=served.version,
            predictions=predictions,
            prediction_ids=ids,
            class_labels=served.class_labels,
            latency_s=elapsed,
        )
