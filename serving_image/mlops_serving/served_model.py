"""One loaded model version: its verified artifact, its batcher and its drift monitor.

Follows KServe's model lifecycle: a ``ServedModel`` is built by ``load`` (verify, rebuild,
warm up) and is ready from then on; ``retire`` stops it once no request is using it, after
which reference counting alone frees it. Its drift monitor reads the reference statistics for
its first report, not while the version loads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_core.artifact import ArtifactError, VerifiedFiles
from mlops_core.preprocessing import PreprocessingError, TabularPreprocessor
from mlops_core.reference_stats import ReferenceStats, ReferenceStatsError
from mlops_core.storage import ObjectStore
from mlops_serving.batching import BatcherClosedError, DynamicBatcher
from mlops_serving.drift_monitor import (
    DriftMonitor,
    DriftReport,
    ReferenceSource,
    drift_reference,
)
from mlops_serving.errors import InvalidInputError, ModelUnavailableError
from mlops_serving.metrics import ServerMetrics
from mlops_serving.performance_monitor import PerformanceMonitor
from mlops_serving.runtimes import ServableArtifact, open_servable, read_servable
from mlops_serving.settings import ServerSettings

log = logging.getLogger(__name__)

Record = Mapping[str, Any]

# a batch that runs quicker than this runs on the event loop (see ``DynamicBatcher``): the
# hand-off to the inference thread and back would cost more than the model
INLINE_BATCH_MS = 1.0


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: list[float]

    @property
    def confidence(self) -> float:
        return max(self.probabilities)


def dummy_record(artifact: ServableArtifact) -> dict[str, Any]:
    """A plausible input for warm-up: numeric means, first categories, a short text."""
    pre = artifact.preprocessor
    if isinstance(pre, TabularPreprocessor):
        record: dict[str, Any] = {c.name: c.mean for c in pre.numeric}
        record.update({c.name: c.categories[0] for c in pre.categorical if c.categories})
        return record
    return {pre.text_column: " ".join(pre.vocabulary[2:12]) or "warm up"}


def _reference_source(artifact: ServableArtifact, replacement: str) -> ReferenceSource:
    """The drift reference, read for the first report rather than while the version loads
    (it holds no ``ServedModel``, so an evicted version is freed by reference counting)."""

    def read() -> tuple[ReferenceStats, str]:
        try:
            training = artifact.reference
        except ArtifactError as exc:
            raise ReferenceStatsError(str(exc)) from exc
        return drift_reference(training, replacement)

    return read


class ServedModel:
    """A model version in memory, answering through a dynamic batcher."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        artifact: ServableArtifact,
        settings: ServerSettings,
        executor: Executor,
        metrics: ServerMetrics,
    ) -> None:
        self.name = name
        self.version = version
        self.artifact = artifact
        self.in_flight = 0
        self.last_used = time.monotonic()
        self.drift: DriftMonitor | None = None
        self.performance: PerformanceMonitor | None = None
        self._executor = executor
        self._drift_sample = settings.drift_sample_per_batch
        drift = settings.drift
        if drift.enabled:
            self.drift = DriftMonitor(
                _reference_source(artifact, drift.reference or ""),
                method=drift.method,
                threshold=drift.threshold,
                window_size=drift.window_size,
                min_samples=settings.drift_min_samples,
                extract=lambda records: (
                    artifact.drift_features(records),
                    artifact.drift_categories(records),
                ),
            )
        if drift.enabled and settings.performance_estimation and artifact.calibration:
            self.performance = PerformanceMonitor(
                artifact.calibration,
                window_size=drift.window_size,
                min_samples=settings.drift_min_samples,
            )
        self.latency = metrics.latency.labels(name, version)
        self.predictions = metrics.predictions.labels(name, version)
        self.errors = metrics.errors.labels(name, version)
        batch_hist = metrics.batch_size.labels(name, version)
        self._batcher: DynamicBatcher[Record, Prediction] = DynamicBatcher(
            self._run_batch,
            executor=executor,
            max_batch_size=settings.batch_size_limit,
            max_latency_ms=settings.batch_wait_ms,
            on_batch=batch_hist.observe,
            after_batch=self._observe_drift,
            after_inline_every=settings.drift_sample_per_batch,
            inline_under_ms=INLINE_BATCH_MS,
        )

    @property
    def size_bytes(self) -> int:
        return self.artifact.size_bytes

    @property
    def class_labels(self) -> list[str]:
        return self.artifact.class_labels

    def _run_batch(self, records: list[Record]) -> list[Prediction]:
        proba = self.artifact.predict_proba(records)
        finite = np.isfinite(proba).all(axis=1)
        if not finite.all():
            # a batch that fails is re-run request by request, so this names the caller's row
            row = int(np.argmin(finite))
            raise ValueError(
                f"instance {row} gives non-finite probabilities: its values are too large for "
                "the model; send values nearer the training range"
            )
        if self.performance is not None:
            self.performance.observe(proba)
        labels = self.artifact.class_labels
        best = np.argmax(proba, axis=1)
        return [
            Prediction(labels[int(i)], row) for i, row in zip(best, proba.tolist(), strict=True)
        ]

    def _observe_drift(self, records: list[Record]) -> None:
        """Keep a sample of a batch's records for the drift windows (after the answers)."""
        if self.drift is None:
            return
        stride = max(1, -(-len(records) // self._drift_sample))
        self.drift.observe_records(records[::stride])

    async def predict(self, records: Sequence[Record]) -> list[Prediction]:
        """Predictions for ``records``; InvalidInputError when they do not fit the model."""
        self.last_used = time.monotonic()
        try:
            return await self._batcher.submit(records)
        except PreprocessingError as exc:
            raise InvalidInputError(f"input does not fit model {self.name}: {exc}") from exc
        except BatcherClosedError as exc:
            raise ModelUnavailableError(
                f"model {self.name} {self.version} is being unloaded; retry the request"
            ) from exc
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise InvalidInputError(
                f"input does not fit model {self.name} {self.version}: {exc}"
            ) from exc

    def warm_up(self) -> None:
        """Run one dummy batch through the model (blocking; called while loading). Its
        probabilities are no one's prediction: the performance window does not keep them."""
        self.artifact.predict_proba([dummy_record(self.artifact)])

    async def drift_report(self) -> DriftReport | None:
        """The drift report, computed on the inference thread (after queued observations)."""
        if self.drift is None:
            return None
        self._batcher.flush_after_batch()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.drift.report)

    async def retire(self) -> None:
        """Finish the requests already queued, then stop the batcher."""
        while self.in_flight > 0:
            await asyncio.sleep(0.01)
        await self._batcher.close()


def load_served_model(
    store: ObjectStore,
    *,
    name: str,
    version: str,
    settings: ServerSettings,
    executor: Executor,
    metrics: ServerMetrics,
    expected_digest: str | None = None,
) -> ServedModel:
    """Verify the version at ``store``, open it in its runtime and warm it up if asked
    (blocking); with ``expected_digest``, a manifest with another digest is refused before
    anything is read."""
    verified = read_servable(store, expected_digest=expected_digest)
    return open_served_model(
        store,
        verified,
        name=name,
        version=version,
        settings=settings,
        executor=executor,
        metrics=metrics,
    )


def open_served_model(
    store: ObjectStore,
    verified: VerifiedFiles,
    *,
    name: str,
    version: str,
    settings: ServerSettings,
    executor: Executor,
    metrics: ServerMetrics,
) -> ServedModel:
    """Open the files ``runtimes.read_servable`` checked in their runtime and warm the
    version up if asked (CPU only, blocking)."""
    artifact = open_servable(
        store,
        verified,
        requested=settings.serving.runtime,
        gpu=settings.serving_gpu,
        threads=settings.torch_num_threads,
    )
    if artifact.manifest.model != name or artifact.manifest.version != version:
        log.warning(
            "artifact at %s says it is %s:%s, served as %s:%s",
            store.uri,
            artifact.manifest.model,
            artifact.manifest.version,
            name,
            version,
        )
    served = ServedModel(
        name=name,
        version=version,
        artifact=artifact,
        settings=settings,
        executor=executor,
        metrics=metrics,
    )
    if settings.serving.warmup:
        served.warm_up()
    return served
