"""Sliding windows of recent inputs per feature of one served version, scored for drift.

The reference is the training data's statistics from the artifact, unless the pod is given
other reference statistics (``DRIFT_REFERENCE_URI``, set by the operator from a Deployment's
``monitoring.reference``): those are read once when the model loads and checked against the
artifact's (same features, same kinds); statistics that do not fit are refused with a logged
reason and the training reference stays in use.

Serving a request costs the monitor almost nothing: ``observe_records`` keeps references to a
sample of each batch's raw records (at most ``window_size``); their drift features are
extracted only when a report is asked for (a metrics scrape, a drift read), so the cost
follows the reads, not the traffic. Extracting features per batch on the inference thread
took about a fifth of its time at full batches.

Loading a version costs it nothing either: given a ``ReferenceSource``, the monitor reads and
parses the reference statistics, and allocates its windows, only for its first report (or
direct observation). A source that fails is tried again at a later report, at most once a
minute, and the report lists no feature meanwhile.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_core.drift import (
    CategoricalReference,
    DriftError,
    DriftMethod,
    NumericReference,
    score_categorical,
    score_numeric,
)
from mlops_core.drift_report import FeatureKind
from mlops_core.preprocessing import PreprocessingError
from mlops_core.reference_stats import (
    CategoricalFeatureStats,
    NumericFeatureStats,
    ReferenceStats,
    ReferenceStatsError,
    check_replacement,
    read_reference,
)

log = logging.getLogger(__name__)

TRAINING_REFERENCE = "training"

MAX_FEATURES = 256
#: seconds before a reference source that failed is tried again
SOURCE_RETRY_S = 60.0

#: the reference statistics to score against and where they came from, read when first needed
#: (ReferenceStatsError when they cannot be)
ReferenceSource = Callable[[], tuple[ReferenceStats, str]]


@dataclass(frozen=True)
class FeatureDrift:
    """The score of one feature (None until the window holds ``min_samples`` values)."""

    name: str
    kind: FeatureKind
    score: float | None
    samples: int
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    method: DriftMethod
    threshold: float
    window_size: int
    features: list[FeatureDrift]
    reference: str = TRAINING_REFERENCE

    @property
    def max_score(self) -> float | None:
        scores = [f.score for f in self.features if f.score is not None]
        return max(scores) if scores else None

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)


def _numeric_reference(stats: NumericFeatureStats) -> NumericReference:
    """The bins, and the quantile sketch when the statistics have one (format 2)."""
    return NumericReference.build(
        edges=stats.bin_edges,
        counts=stats.counts,
        std=stats.std,
        probabilities=stats.quantile_probabilities,
        quantiles=stats.quantiles,
    )


def _categorical_reference(stats: CategoricalFeatureStats) -> CategoricalReference:
    return CategoricalReference.build(categories=stats.categories, counts=stats.counts)


class NumericWindow:
    """The last ``size`` finite values of one numeric feature, oldest first, in one float64
    array allocated at the first value: 8 bytes a value, where a deque of Python floats takes
    about 32 (a full window of 1,000 values for each of 32 features: 256 KiB, not 1 MiB)."""

    __slots__ = ("_count", "_next", "_size", "_values")

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: npt.NDArray[np.float64] | None = None
        self._next = 0  # where the next value goes
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, values: Sequence[float]) -> None:
        """Append the finite ones of ``values``; the oldest drop out past ``size``."""
        new = np.asarray(values, dtype=np.float64)
        new = new[np.isfinite(new)][-self._size :]
        if new.size == 0:
            return
        if self._values is None:
            self._values = np.empty(self._size, dtype=np.float64)
        head = min(new.size, self._size - self._next)
        self._values[self._next : self._next + head] = new[:head]
        self._values[: new.size - head] = new[head:]
        self._next = (self._next + new.size) % self._size
        self._count = min(self._size, self._count + new.size)

    def values(self) -> npt.NDArray[np.float64]:
        """A copy of the values, oldest first."""
        if self._values is None:
            return np.empty(0, dtype=np.float64)
        if self._count < self._size:
            return self._values[: self._count].copy()
        return np.concatenate((self._values[self._next :], self._values[: self._next]))


#: raw records → (numeric drift features, categorical drift features), named as the reference's
Extract = Callable[
    [list[Mapping[str, Any]]],
    tuple[Mapping[str, Sequence[float]], Mapping[str, Sequence[str | None]]],
]


class DriftMonitor:
    """Keeps the last ``window_size`` values of every reference feature; thread-safe."""

    def __init__(
        self,
        reference: ReferenceStats | ReferenceSource,
        *,
        method: DriftMethod,
        threshold: float,
        window_size: int,
        min_samples: int,
        reference_source: str = TRAINING_REFERENCE,
        extract: Extract | None = None,
    ) -> None:
        self.reference_source = reference_source
        self._source: ReferenceSource | None = None
        self._source_failed_at = -math.inf
        self._extract = extract
        self._pending: deque[Mapping[str, Any]] = deque(maxlen=window_size)
        self._observed = 0
        self.method: DriftMethod = method
        self.threshold = threshold
        self.window_size = window_size
        self.min_samples = min(min_samples, window_size)
        self._numeric: dict[str, NumericReference] = {}
        self._categorical: dict[str, CategoricalReference] = {}
        self._numeric_windows: dict[str, NumericWindow] = {}
        self._category_windows: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._setup = threading.Lock()
        if isinstance(reference, ReferenceStats):
            self._use(reference)
        else:
            self._source = reference

    def _use(self, reference: ReferenceStats) -> None:
        numeric: dict[str, NumericReference] = {}
        categorical: dict[str, CategoricalReference] = {}
        for stats in reference.features[:MAX_FEATURES]:
            try:
                if isinstance(stats, NumericFeatureStats):
                    numeric[stats.name] = _numeric_reference(stats)
                else:
                    categorical[stats.name] = _categorical_reference(stats)
            except DriftError:
                continue  # a feature without usable statistics is not monitored
        with self._lock:
            self._numeric, self._categorical = numeric, categorical
            self._numeric_windows = {name: NumericWindow(self.window_size) for name in numeric}
            self._category_windows = {name: deque(maxlen=self.window_size) for name in categorical}

    def _ensure_reference(self) -> None:
        """Read the reference from its source, the first time it is needed."""
        if self._source is None:
            return
        with self._setup:
            source = self._source
            if source is None or time.monotonic() - self._source_failed_at < SOURCE_RETRY_S:
                return
            try:
                reference, self.reference_source = source()
            except (ReferenceStatsError, OSError) as exc:
                self._source_failed_at = time.monotonic()
                log.error("drift reference not read, no feature is scored: %s", exc)
                return
            self._use(reference)
            self._source = None

    @property
    def features(self) -> list[str]:
        self._ensure_reference()
        return [*self._numeric, *self._categorical]

    @property
    def scorable(self) -> bool:
        """Whether a report could score a feature: ``min_samples`` inputs were observed."""
        return self._observed >= self.min_samples

    def observe(
        self,
        numeric: Mapping[str, Sequence[float]],
        categorical: Mapping[str, Sequence[str | None]],
    ) -> None:
        """Add the drift features of a batch of requests (missing values are skipped)."""
        self._ensure_reference()
        counts = [len(v) for v in (*numeric.values(), *categorical.values())]
        with self._lock:
            self._observed += max(counts, default=0)
        self._add(numeric, categorical)

    def _add(
        self,
        numeric: Mapping[str, Sequence[float]],
        categorical: Mapping[str, Sequence[str | None]],
    ) -> None:
        with self._lock:
            for name, values in numeric.items():
                window = self._numeric_windows.get(name)
                if window is not None:
                    window.extend(values)
            for name, cats in categorical.items():
                cat_window = self._category_windows.get(name)
                if cat_window is not None:
                    cat_window.extend(c for c in cats if c is not None)

    def observe_records(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Keep raw records for the next report (their features are extracted then)."""
        with self._lock:
            self._pending.extend(records)
            self._observed += len(records)

    def _flush(self) -> None:
        """Extract the features of the records kept since the last report into the windows."""
        if self._extract is None:
            return
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        if not pending:
            return
        try:
            self._add(*self._extract(pending))
        except (PreprocessingError, ValueError):
            for record in pending:  # one malformed record must not cost the others
                try:
                    self._add(*self._extract([record]))
                except (PreprocessingError, ValueError) as exc:
                    log.debug("drift features of a record skipped: %s", exc)

    def report(self) -> DriftReport:
        self._ensure_reference()
        self._flush()
        with self._lock:
            numeric = {name: w.values() for name, w in self._numeric_windows.items()}
            categorical = {name: list(w) for name, w in self._category_windows.items()}
        features: list[FeatureDrift] = []
        for name, values in numeric.items():
            score = None
            if len(values) >= self.min_samples:
                score = score_numeric(self._numeric[name], values, self.method)
            features.append(self._feature(name, "numeric", score, len(values)))
        for name, cats in categorical.items():
            score = None
            if len(cats) >= self.min_samples:
                score = score_categorical(self._categorical[name], cats, self.method)
            features.append(self._feature(name, "categorical", score, len(cats)))
        return DriftReport(
            self.method, self.threshold, self.window_size, features, self.reference_source
        )

    def _feature(
        self, name: str, kind: FeatureKind, score: float | None, samples: int
    ) -> FeatureDrift:
        drifted = score is not None and score > self.threshold
        return FeatureDrift(name=name, kind=kind, score=score, samples=samples, drifted=drifted)


def drift_reference(training: ReferenceStats, uri: str) -> tuple[ReferenceStats, str]:
    """The reference to score against, and where it came from: the statistics at ``uri`` when
    one is given and they fit the model's features, else the training data's."""
    if not uri:
        return training, TRAINING_REFERENCE
    try:
        replacement = read_reference(uri)
        check_replacement(replacement, training)
    except ReferenceStatsError as exc:
        log.error("drift reference %s not used, scoring against the training data: %s", uri, exc)
        return training, TRAINING_REFERENCE
    return replacement, uri
