"""Prediction ids and online accuracy per version, from true labels sent back by callers."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from mlops_core.prediction_ids import prediction_id


@dataclass(frozen=True)
class PredictionRecord:
    model: str
    version: str
    label: str


@dataclass(frozen=True)
class Accuracy:
    model: str
    version: str
    correct: int
    samples: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.samples if self.samples else None


class UnknownPredictionError(KeyError):
    """The prediction id was never issued, already got feedback, or aged out."""


_ID_BYTES = 16
_ID_BATCH = 256
_ids: list[str] = []


def new_prediction_id(version: str | None = None) -> str:
    """128 random bits as 32 hex digits, unguessable (feedback trusts them), drawn from the OS
    256 at a time: one system call per 256 predictions instead of one each; with ``version``,
    followed by the version that made the prediction (``prediction_ids``)."""
    if not _ids:
        raw = os.urandom(_ID_BYTES * _ID_BATCH).hex()
        step = 2 * _ID_BYTES
        _ids.extend(raw[i : i + step] for i in range(0, len(raw), step))
    random_hex = _ids.pop()
    return prediction_id(random_hex, version) if version is not None else random_hex


class FeedbackBook:
    """The last ``capacity`` predictions awaiting a true label, the tallies per version, and
    per version whether each of the last ``window`` labelled predictions was right."""

    def __init__(self, capacity: int, *, window: int = 1000) -> None:
        self._capacity = capacity
        self._window = window
        # plain tuples of strings, which the cyclic GC stops tracking: a book of 100,000
        # records as objects would make each full collection a pause of tens of milliseconds
        self._pending: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._tally: dict[tuple[str, str], tuple[int, int]] = {}
        self._recent: dict[tuple[str, str], deque[bool]] = {}
        self._lock = threading.Lock()

    def record(self, prediction_id: str, record: PredictionRecord) -> None:
        with self._lock:
            self._pending[prediction_id] = (record.model, record.version, record.label)
            while len(self._pending) > self._capacity:
                self._pending.popitem(last=False)

    def feedback(self, prediction_id: str, true_label: str) -> tuple[bool, Accuracy]:
        """Whether the prediction was right, and the version's accuracy so far."""
        with self._lock:
            found = self._pending.pop(prediction_id, None)
            if found is None:
                raise UnknownPredictionError(prediction_id)
            model, version, label = found
            key = (model, version)
            correct, samples = self._tally.get(key, (0, 0))
            hit = label == true_label
            correct, samples = correct + int(hit), samples + 1
            self._tally[key] = (correct, samples)
            recent = self._recent.get(key)
            if recent is None:
                recent = self._recent[key] = deque(maxlen=self._window)
            recent.append(hit)
        return hit, Accuracy(model, version, correct, samples)

    def recent_accuracy(self, model: str, version: str) -> Accuracy:
        """The accuracy of the version's last ``window`` predictions that got a label."""
        with self._lock:
            hits = list(self._recent.get((model, version), ()))
        return Accuracy(model, version, sum(hits), len(hits))

    def accuracy(self, model: str) -> list[Accuracy]:
        with self._lock:
            items = [(k, v) for k, v in self._tally.items() if k[0] == model]
        return [Accuracy(m, v, c, n) for (m, v), (c, n) in sorted(items)]
