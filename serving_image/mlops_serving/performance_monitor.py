"""The last ``window_size`` predictions' probabilities of one served version, estimated.

Serving a request costs the monitor one append: the batch's probability array (already
computed for the answers) is kept by reference. Calibrating and estimating happen only when a
report is asked for (a metrics scrape, an operator read), so the cost follows the reads, not
the traffic.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from mlops_core.calibration import Calibration
from mlops_core.performance_estimate import PerformanceEstimate, estimate_performance

Probabilities = np.ndarray[Any, np.dtype[np.floating[Any]]]


class PerformanceMonitor:
    """Keeps the probabilities of the last ``window_size`` predictions; thread-safe."""

    def __init__(self, calibration: Calibration, *, window_size: int, min_samples: int) -> None:
        self.calibration = calibration
        self.window_size = window_size
        self.min_samples = min(min_samples, window_size)
        self._batches: deque[Probabilities] = deque()
        self._rows = 0
        self._lock = threading.Lock()

    def observe(self, proba: Probabilities) -> None:
        """Keep a batch's probabilities (rows: predictions); the oldest batches leave."""
        with self._lock:
            self._batches.append(proba)
            self._rows += len(proba)
            while self._rows - len(self._batches[0]) >= self.window_size:
                self._rows -= len(self._batches.popleft())

    def window(self) -> Probabilities:
        """The raw probabilities of the last ``window_size`` predictions."""
        with self._lock:
            batches = list(self._batches)
        if not batches:
            return np.zeros((0, 0))
        return np.concatenate(batches)[-self.window_size :]

    def estimate(self) -> tuple[int, PerformanceEstimate | None]:
        """The window's length, and its estimate once it holds ``min_samples`` predictions."""
        window = self.window()
        if len(window) < self.min_samples or len(window) == 0:
            return len(window), None
        return len(window), estimate_performance(self.calibration.apply(window))
