"""When the server last began a prediction, readable by its explanation workers.

One double in shared memory (from multiprocessing's spawn context, handed to each worker as it
is spawned): the server writes the monotonic clock as each prediction begins, a single store
without a lock; a worker reads it to choose its CPU share, the busy one while a prediction began
within ``BUSY_WINDOW_S``, the idle one otherwise. A read that races a write sees the old or the
new time, either of which only moves the switch by one forward pass. ``time.monotonic`` is
CLOCK_MONOTONIC, one clock for every process of a Linux host.
"""

from __future__ import annotations

import math
import time
from multiprocessing import get_context
from typing import Final

#: a prediction began this recently: the server is serving, the workers keep to the busy share
BUSY_WINDOW_S: Final = 0.1


class PredictionActivity:
    """The time the last prediction began, shared with the processes spawned with it."""

    def __init__(self) -> None:
        self._last = get_context("spawn").RawValue("d", -math.inf)

    def mark(self) -> None:
        """A prediction begins now."""
        self._last.value = time.monotonic()

    def busy(self) -> bool:
        """Whether a prediction began within the last ``BUSY_WINDOW_S``."""
        last: float = self._last.value
        return time.monotonic() - last < BUSY_WINDOW_S
