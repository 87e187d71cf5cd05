"""The periodic resync of unfinished TrainingJobs: one thread for the whole operator.

Every ``interval`` seconds each run that the watch last showed unfinished is reconciled once
more, one after the other; this also retries what failed (an API error, an artifact still on
its way). One operator-wide loop rather than a kopf timer per object: a kopf timer puts a
finalizer on every TrainingJob (one more write per run, and a run could not be deleted while
the operator is down) and posts an Event on every tick.

Unlike kopf's timers, this thread does not pause while kopf peering pauses the operator for
another replica: a paused replica keeps resyncing the runs it last saw (each reconcile reads
the run afresh, so a started run is only followed, never started again). The chart runs one
replica with the Recreate strategy, so there is no second replica to pause for.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: (namespace, name) of a TrainingJob
RunKey = tuple[str, str]


class UnfinishedRuns:
    """The runs that are not finished, as the latest watch event of each showed it (with its
    uid). Fed by the TrainingJob event handler; read by the resync thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uids: dict[RunKey, str] = {}

    def observe(self, key: RunKey, *, uid: str, unfinished: bool) -> None:
        with self._lock:
            if unfinished:
                self._uids[key] = uid
            else:
                self._uids.pop(key, None)

    def snapshot(self) -> list[tuple[RunKey, str]]:
        """(run, uid) pairs, sorted by namespace and name."""
        with self._lock:
            return sorted(self._uids.items())


class Resync:
    """Calls ``reconcile(namespace, name, uid)`` for every unfinished run every ``interval``
    seconds, in a daemon thread started on first use; ``stop()`` ends it promptly.

    The thread runs in a copy of the context it was started from, so that kopf's Event
    posting (which lives in context variables of the handler that starts it) works there.
    """

    def __init__(
        self,
        *,
        interval: float,
        runs: UnfinishedRuns,
        reconcile: Callable[[str, str, str], None],
    ) -> None:
        self.interval = interval
        self.runs = runs
        self._reconcile = reconcile
        self._stopping = threading.Event()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        with self._guard:
            if self._thread is not None or self._stopping.is_set():
                return
            context = contextvars.copy_context()
            self._thread = threading.Thread(
                target=context.run, args=(self._loop,), name="trainingjob-resync", daemon=True
            )
            self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._guard:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def run_once(self) -> int:
        """Reconcile every unfinished run once; the number reconciled. A failure is logged
        and the next run goes on (the run is tried again on the next pass)."""
        done = 0
        for (namespace, name), uid in self.runs.snapshot():
            if self._stopping.is_set():
                break
            try:
                self._reconcile(namespace, name, uid)
            except Exception:
                log.exception("resync of TrainingJob %s/%s failed; retrying later", namespace, name)
            done += 1
        return done

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            self.run_once()
