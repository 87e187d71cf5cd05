"""Dynamic batching: concurrent requests for one model version share one forward pass.

Requests (each a group of one or more items) queue up. A request reaching an idle batcher is
looked at again one event-loop turn later, after every request that arrived with it has been
parsed: if it is still alone, there is no concurrent traffic to wait for and it runs at once, on
the event loop itself, so that a lone caller pays no hand-off to the inference thread. Otherwise
a batch closes when it holds ``max_batch_size`` items, when ``max_latency_ms`` have passed since
its first request, or when no new request arrived for a quarter of that window.

One batch runs at a time on the inference executor, off the event loop; requests that arrive
meanwhile form the next batch, which starts as soon as the running one ends if it is already
full or due. A batch whose run fails is re-run request by request, so one bad request fails
alone. An optional ``after_batch`` step (drift bookkeeping) runs on the executor after the
answers are out, so it adds no latency; for requests run inline it runs on the event loop once
``after_inline_every`` items have gathered, after their answers are written. The collector is
driven by callbacks on the event loop rather than a task waking up per request, which keeps the
per-request cost to a queue append and a future.

With ``inline_under_ms``, a batch also runs on the event loop while the recent batches (a moving
average of their run times) took less than that: for a small model the hand-off to the executor
thread and back (waking it, handing the interpreter lock over, the result's way back to the
loop) costs more than the batch itself, and the batch's Python work holds the interpreter lock
wherever it runs. A model whose batches grow slower goes back to the executor on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


class BatcherClosedError(RuntimeError):
    """The batcher was closed; the model is being unloaded."""


@dataclass
class _Group(Generic[I, O]):
    items: Sequence[I]
    arrival: float
    future: asyncio.Future[list[O]] = field(repr=False)


def _refuse(items: list[Any]) -> list[Any]:
    raise BatcherClosedError("the model is being unloaded; retry the request")


class DynamicBatcher(Generic[I, O]):
    """Merge concurrent ``submit`` calls into calls of ``run_batch`` on ``executor``."""

    def __init__(
        self,
        run_batch: Callable[[list[I]], list[O]],
        *,
        executor: Executor,
        max_batch_size: int,
        max_latency_ms: float,
        on_batch: Callable[[int], None] | None = None,
        after_batch: Callable[[list[I]], None] | None = None,
        after_inline_every: int = 1,
        inline_under_ms: float = 0.0,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run_batch = run_batch
        self._executor = executor
        self._max_items = max_batch_size
        self._max_wait = max_latency_ms / 1000.0
        self._idle_gap = self._max_wait / 4.0
        self._on_batch = on_batch
        self._after_batch = after_batch
        self._after_inline_every = after_inline_every
        self._inline_under = inline_under_ms / 1000.0
        self._batch_seconds = math.inf  # moving average of batch run times, unknown at first
        self._deferred: list[I] = []
        self._pending: deque[_Group[I, O]] = deque()
        self._pending_items = 0
        self._last_arrival = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self._closed = False
        self._check_due = False

    async def submit(self, items: Sequence[I]) -> list[O]:
        """The outputs for ``items``, in order, computed in some batch."""
        if self._closed:
            raise BatcherClosedError("the model is being unloaded; retry the request")
        if not items:
            return []
        loop = asyncio.get_running_loop()
        now = loop.time()
        group: _Group[I, O] = _Group(items, now, loop.create_future())
        self._pending.append(group)
        self._pending_items += len(items)
        self._last_arrival = now
        if self._running is None:
            if self._pending_items >= self._max_items or self._max_wait <= 0:
                self._start(loop)
            elif self._timer is None and not self._check_due:
                self._check_due = True
                loop.call_soon(self._check)
        return await group.future

    async def close(self) -> None:
        """Stop taking requests; requests already queued still get their answers."""
        self._closed = True
        loop = asyncio.get_running_loop()
        while self._running is not None or self._pending:
            if self._running is None:
                self._start(loop)
            running = self._running
            if running is not None:
                await running
        # what it ran usually holds this batcher (a served version's bound methods): letting go
        # breaks that cycle, so an evicted version is freed at once, not by the cyclic collector
        self._run_batch = _refuse
        self._on_batch = self._after_batch = None

    # ---- scheduling (event loop callbacks) -------------------------------------------------

    def _check(self) -> None:
        """One loop turn after a request reached an idle batcher: alone → inline, else wait."""
        self._check_due = False
        if self._running is not None or not self._pending or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        if len(self._pending) == 1 and self._pending_items <= self._max_items and not self._closed:
            group = self._pending.popleft()
            self._pending_items -= len(group.items)
            self._run_inline(loop, group)
        elif self._pending_items >= self._max_items:
            self._start(loop)
        else:
            self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = self._pending[0].arrival + self._max_wait
        self._timer = loop.call_at(min(deadline, self._last_arrival + self._idle_gap), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._running is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now >= self._pending[0].arrival + self._max_wait
        quiet = now >= self._last_arrival + self._idle_gap
        if due or quiet or self._pending_items >= self._max_items:
            self._start(loop)
        else:
            self._arm(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self._take()
        if self._batch_seconds < self._inline_under:
            self._run_on_loop(loop, batch)
            loop.call_soon(self._resume)
            return
        self._running = loop.create_task(self._run(batch))

    def _take(self) -> list[_Group[I, O]]:
        batch: list[_Group[I, O]] = []
        count = 0
        while self._pending and (
            not batch or count + len(self._pending[0].items) <= self._max_items
        ):
            group = self._pending.popleft()
            batch.append(group)
            count += len(group.items)
        self._pending_items -= count
        return batch

    async def _run(self, batch: list[_Group[I, O]]) -> None:
        try:
            await self._dispatch(batch)
        finally:
            self._running = None
            self._resume()

    def _resume(self) -> None:
        """After a batch: start the next one if it is full or due, else wait for it."""
        if self._running is not None or not self._pending or self._closed:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() >= self._pending[0].arrival + self._max_wait
        if due or self._pending_items >= self._max_items:
            self._start(loop)
        elif self._timer is None:
            self._arm(loop)

    # ---- running a batch -----------------------------------------------------------------

    async def _dispatch(self, batch: list[_Group[I, O]]) -> None:
        loop = asyncio.get_running_loop()
        live = [g for g in batch if not g.future.done()]
        if not live:
            return
        flat = [item for group in live for item in group.items]
        try:
            outputs = await loop.run_in_executor(self._executor, self._timed_run, flat)
        except Exception:  # one bad group must not fail the others: run them one by one
            for group in live:
                await self._run_alone(group)
            return
        if self._deliver(live, flat, outputs):
            self._follow_up(loop, flat)

    def _deliver(self, live: list[_Group[I, O]], flat: list[I], outputs: list[O]) -> bool:
        """Hand each group its slice of a batch's outputs; False (every group failed) when the
        batch did not answer each item."""
        if self._on_batch is not None:
            self._on_batch(len(flat))
        if len(outputs) != len(flat):
            error = RuntimeError(f"batch of {len(flat)} items produced {len(outputs)} outputs")
            for group in live:
                _settle(group, error=error)
            return False
        start = 0
        for group in live:
            _settle(group, result=outputs[start : start + len(group.items)])
            start += len(group.items)
        return True

    def _follow_up(self, loop: asyncio.AbstractEventLoop, items: list[I]) -> None:
        """Run ``after_batch`` on the executor once the answers are out (not awaited)."""
        if self._after_batch is None:
            return
        if self._deferred:
            items, self._deferred = self._deferred + items, []
        future = loop.run_in_executor(self._executor, self._after_batch, items)
        future.add_done_callback(_log_failure)

    def _timed_run(self, items: list[I]) -> list[O]:
        """``run_batch``, its run time kept in the moving average that decides where the next
        batch runs (an assignment of a float: safe from the executor thread)."""
        started = time.perf_counter()
        outputs = self._run_batch(items)
        seconds = time.perf_counter() - started
        previous = self._batch_seconds
        self._batch_seconds = seconds if previous == math.inf else 0.75 * previous + 0.25 * seconds
        return outputs

    def _run_on_loop(self, loop: asyncio.AbstractEventLoop, batch: list[_Group[I, O]]) -> None:
        """Run a batch on the event loop (its recent batches were quicker than a hand-off)."""
        live = [g for g in batch if not g.future.done()]
        if not live:
            return
        flat = [item for group in live for item in group.items]
        try:
            outputs = self._timed_run(flat)
        except Exception:  # one bad group must not fail the others: run them one by one
            for group in live:
                self._run_inline(loop, group)
            return
        if self._deliver(live, flat, outputs):
            self._defer_after_batch(loop, flat)

    def _run_inline(self, loop: asyncio.AbstractEventLoop, group: _Group[I, O]) -> None:
        """Run a lone request on the event loop (no concurrent request is waiting on it)."""
        if group.future.done():
            return
        items = list(group.items)
        try:
            outputs = self._run_batch(items)
        except Exception as exc:
            _settle(group, error=exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(items))
        if len(outputs) != len(items):
            error = RuntimeError(f"batch of {len(items)} items produced {len(outputs)} outputs")
            _settle(group, error=error)
            return
        _settle(group, result=outputs)
        self._defer_after_batch(loop, items)

    def _defer_after_batch(self, loop: asyncio.AbstractEventLoop, items: list[I]) -> None:
        if self._after_batch is not None:
            # a hand-off to the executor costs a lone caller as much as the model: gather a few
            # requests' items, then run the step on the loop once the answers are written
            self._deferred.extend(items)
            if len(self._deferred) >= self._after_inline_every:
                loop.call_soon(self._after_inline, self._deferred)
                self._deferred = []

    def _after_inline(self, items: list[I]) -> None:
        assert self._after_batch is not None
        try:
            self._after_batch(items)
        except Exception as exc:  # bookkeeping must never fail a request
            log.warning("after-batch step failed: %s", exc)

    def flush_after_batch(self) -> None:
        """Hand the ``after_batch`` step of inline runs to the executor now (e.g. before a
        report that runs on the executor and must see them)."""
        if self._deferred:
            self._follow_up(asyncio.get_running_loop(), [])

    async def _run_alone(self, group: _Group[I, O]) -> None:
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._run_batch, list(group.items))
        except Exception as exc:
            _settle(group, error=exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(group.items))
        _settle(group, result=outputs)
        self._follow_up(loop, list(group.items))


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("after-batch step failed: %s", future.exception())


def _settle(
    group: _Group[I, O], *, result: list[O] | None = None, error: BaseException | None = None
) -> None:
    if group.future.done():
        return
    if error is not None:
        group.future.set_exception(error)
    else:
        assert result is not None
        group.future.set_result(result)


async def cancel_quietly(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it, swallowing its cancellation."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
