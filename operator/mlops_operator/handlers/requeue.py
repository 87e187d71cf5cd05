"""Timed work for every kind: one operator-wide thread and one queue keyed by object.

A reconcile that wants to look again later (a run still training, a canary step whose interval
is not over, trials to poll) returns ``Outcome.requeue_after``; its handler calls
``schedule(kind, namespace, name, after=...)``. When the time comes, the thread calls the
callback registered for the kind with ``(namespace, name)``; the callback reconciles and returns
the seconds until the next look, or None when there is nothing timed left.

One thread and one queue rather than a kopf timer or a thread per object: a kopf timer puts a
finalizer on every object (one more write each, and nothing could be deleted while the operator
is down) and posts an Event on every tick; a thread per object does not scale.

- The earliest due time wins: scheduling an object that is already due sooner changes nothing,
  so a watch event that asks for the regular look never postpones a nearer one.
- A look asked for now (``after=0``: a watch event) starts before the timed looks that are
  overdue, in the order asked; a look for a change of the object itself (``change=True``: its
  spec, a request on it) starts before both. When the workers fall behind (many runs to
  resync, a thousand Deployments whose children's status the cluster updates one after the
  other), a change a person made waits for the reconciles running, not for that backlog.
- A callback that raises is logged and tried again with a growing delay (1 s doubling to
  ``max_error_delay``); the next success resets it.
- Callbacks start in the order they fall due and run on a few worker threads (``workers``), so
  one slow reconcile (a pod that does not answer a drift or A/B read until its timeout) holds
  one worker, not every other timed reconcile. One object never runs twice at once: due again
  while it runs, it runs again right after. The handlers take the object's lock
  (``OperatorContext.lock``) inside the callback, as they do for watch events.

The workers run in copies of the context of the handler that first schedules something, so
that kopf's Event posting (which lives in context variables of a handler) works there. It does not
pause while kopf peering pauses the operator for another replica: a paused replica keeps looking
at the objects it last saw (each reconcile reads its object afresh). The chart runs one replica
with the Recreate strategy, so there is no second replica to pause for.
"""

from __future__ import annotations

import contextvars
import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

#: (kind, namespace, name)
ObjectKey = tuple[str, str, str]
#: called with (namespace, name); returns the seconds until the next call, or None
Reconcile = Callable[[str, str], float | None]

THREAD_NAME = "mlops-requeue"
#: timed reconciles that may run at once
WORKERS = 4


class Requeue:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_error_delay: float = 1.0,
        max_error_delay: float = 60.0,
        workers: int = WORKERS,
    ) -> None:
        self._clock = clock
        self._workers = workers
        self._slots = threading.Semaphore(workers)
        self._running: set[ObjectKey] = set()
        self._again: set[ObjectKey] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._first_error_delay = first_error_delay
        self._max_error_delay = max_error_delay
        self._wake = threading.Condition()
        self._due: dict[ObjectKey, float] = {}
        self._heap: list[tuple[float, ObjectKey]] = []
        #: looks asked for now, in the order asked, each with its due time as in the heap: for
        #: changes of the object itself (lane 0), then for other events (lane 1)
        self._lanes: tuple[deque[tuple[float, ObjectKey]], ...] = (deque(), deque())
        self._asked: tuple[set[ObjectKey], ...] = (set(), set())
        self._failures: dict[ObjectKey, int] = {}
        self._callbacks: dict[str, Reconcile] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None

    def handle(self, kind: str, reconcile: Reconcile) -> None:
        """The callback for objects of ``kind``; one per kind."""
        if kind in self._callbacks:
            raise ValueError(f"the requeue already has a callback for {kind}")
        self._callbacks[kind] = reconcile

    def schedule(
        self, kind: str, namespace: str, name: str, *, after: float, change: bool = False
    ) -> None:
        """Look at the object in ``after`` seconds, unless it is due sooner already
        (``change``: a look for now is for a change of the object itself, and goes first)."""
        if kind not in self._callbacks:
            raise ValueError(f"the requeue has no callback for {kind}: call handle() first")
        key = (kind, namespace, name)
        due = self._clock() + max(0.0, after)
        with self._wake:
            current = self._due.get(key)
            if current is None or due < current:
                current = self._due[key] = due
                heapq.heappush(self._heap, (due, key))
            lane = 0 if change else 1
            if after <= 0 and key not in self._asked[lane]:
                self._lanes[lane].append((current, key))
                self._asked[lane].add(key)
            self._wake.notify()
        self.ensure_started()

    def cancel(self, kind: str, namespace: str, name: str) -> None:
        """Forget the object (deleted, or nothing timed left)."""
        key = (kind, namespace, name)
        with self._wake:
            self._due.pop(key, None)
            for asked in self._asked:
                asked.discard(key)  # its entries in the lanes of looks for now are stale
            self._failures.pop(key, None)

    def pending(self) -> list[tuple[ObjectKey, float]]:
        """Scheduled objects with the seconds until each is due, soonest first."""
        now = self._clock()
        with self._wake:
            return sorted(((k, due - now) for k, due in self._due.items()), key=lambda i: i[1])

    def run_due(self) -> int:
        """Run every callback that is due now, in this thread; the number run."""
        done = 0
        while (key := self._pop_due(wait=False)) is not None:
            self._run(key)
            done += 1
        return done

    def ensure_started(self) -> None:
        with self._wake:
            if self._thread is not None or self._stopping:
                return
            context = contextvars.copy_context()
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=f"{THREAD_NAME}-")
            self._thread = threading.Thread(
                target=self._loop, args=(context,), name=THREAD_NAME, daemon=True
            )
            self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """End the threads promptly (after the callbacks running now, if any)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread, pool = self._thread, self._pool
        if thread is not None:
            thread.join(timeout)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _pop_due(self, *, wait: bool) -> ObjectKey | None:
        with self._wake:
            while not self._stopping:
                for lane, asked in zip(self._lanes, self._asked, strict=True):
                    while lane:
                        due, key = lane.popleft()
                        asked.discard(key)
                        if self._due.get(key) == due and due <= self._clock():
                            del self._due[key]  # its other entries are skipped from now on
                            return key
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # cancelled, or scheduled again sooner
                if self._heap:
                    due, key = self._heap[0]
                    delay = due - self._clock()
                    if delay <= 0:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        return key
                else:
                    delay = None
                if not wait:
                    return None
                self._wake.wait(delay)
            return None

    def _run(self, key: ObjectKey) -> None:
        kind, namespace, name = key
        try:
            after = self._callbacks[kind](namespace, name)
        except Exception:
            with self._wake:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
            delay = min(self._max_error_delay, self._first_error_delay * 2 ** (failures - 1))
            log.exception("timed reconcile of %s %s/%s failed; again in %.0f s", *key, delay)
            self._reschedule(key, delay)
            return
        with self._wake:
            self._failures.pop(key, None)
        if after is not None:
            self._reschedule(key, after)

    def _reschedule(self, key: ObjectKey, after: float) -> None:
        kind, namespace, name = key
        self.schedule(kind, namespace, name, after=after)

    def _loop(self, context: contextvars.Context) -> None:
        while True:
            self._slots.acquire()
            key = self._pop_due(wait=True)
            if key is None:
                self._slots.release()
                return
            with self._wake:
                if key in self._running:  # due again while it runs: right after it
                    self._again.add(key)
                    self._slots.release()
                    continue
                self._running.add(key)
            assert self._pool is not None
            self._pool.submit(context.copy().run, self._work, key)

    def _work(self, key: ObjectKey) -> None:
        try:
            self._run(key)
        finally:
            with self._wake:
                self._running.discard(key)
                again = key in self._again
                self._again.discard(key)
            self._slots.release()
            if again:
                self._reschedule(key, 0.0)
