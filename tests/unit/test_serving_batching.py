"""The dynamic batcher: merging, limits, latency window and isolation of bad requests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from mlops_serving.batching import BatcherClosedError, DynamicBatcher

pytestmark = pytest.mark.unit

T = TypeVar("T")


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        time.sleep(self.delay)
        with self.lock:
            self.batches.append(list(items))
        return [i * 10 for i in items]


def run(scenario: Callable[[ThreadPoolExecutor], Coroutine[Any, Any, T]]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return asyncio.run(scenario(pool))


def test_concurrent_submissions_share_forward_passes_up_to_the_limit() -> None:
    recorder = Recorder(delay=0.01)

    async def scenario(pool: ThreadPoolExecutor) -> list[list[int]]:
        batcher = DynamicBatcher(recorder, executor=pool, max_batch_size=8, max_latency_ms=20)
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(40)))
        await batcher.close()
        return results

    results = run(scenario)
    assert results == [[i * 10] for i in range(40)]
    assert all(len(b) <= 8 for b in recorder.batches)
    assert len(recorder.batches) <= 8  # 40 items in batches of up to 8, not 40 passes
    assert sorted(i for b in recorder.batches for i in b) == list(range(40))


def test_a_group_larger_than_the_limit_runs_alone_and_keeps_its_order() -> None:
    recorder = Recorder()

    async def scenario(pool: ThreadPoolExecutor) -> list[int]:
        batcher = DynamicBatcher(recorder, executor=pool, max_batch_size=4, max_latency_ms=1)
        out = await batcher.submit(list(range(10)))
        await batcher.close()
        return out

    assert run(scenario) == [i * 10 for i in range(10)]
    assert recorder.batches == [list(range(10))]


def test_a_lone_request_does_not_wait_the_whole_window() -> None:
    recorder = Recorder()

    async def scenario(pool: ThreadPoolExecutor) -> float:
        batcher = DynamicBatcher(recorder, executor=pool, max_batch_size=64, max_latency_ms=200)
        await batcher.submit([1])  # first call starts the collector
        started = time.perf_counter()
        await batcher.submit([2])
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert run(scenario) < 0.05  # after a batch of one, a lone request runs at once


def test_one_bad_request_fails_alone() -> None:
    recorder = Recorder(delay=0.005)

    async def scenario(pool: ThreadPoolExecutor) -> list[object]:
        batcher = DynamicBatcher(recorder, executor=pool, max_batch_size=16, max_latency_ms=20)
        outcomes = await asyncio.gather(
            batcher.submit([1]),
            batcher.submit([-1]),
            batcher.submit([2, 3]),
            return_exceptions=True,
        )
        await batcher.close()
        return list(outcomes)

    good1, bad, good2 = run(scenario)
    assert good1 == [10]
    assert good2 == [20, 30]
    assert isinstance(bad, ValueError)


def test_closing_finishes_queued_requests_then_refuses_new_ones() -> None:
    recorder = Recorder(delay=0.01)

    async def scenario(pool: ThreadPoolExecutor) -> tuple[list[list[int]], bool]:
        batcher = DynamicBatcher(recorder, executor=pool, max_batch_size=2, max_latency_ms=5)
        pending = [asyncio.ensure_future(batcher.submit([i])) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.close()
        done = await asyncio.gather(*pending)
        try:
            await batcher.submit([9])
        except BatcherClosedError:
            return done, True
        return done, False

    done, refused = run(scenario)
    assert done == [[i * 10] for i in range(6)]
    assert refused


def test_batch_size_callback_sees_every_pass() -> None:
    sizes: list[int] = []

    async def scenario(pool: ThreadPoolExecutor) -> None:
        batcher = DynamicBatcher(
            Recorder(), executor=pool, max_batch_size=5, max_latency_ms=10, on_batch=sizes.append
        )
        await asyncio.gather(*(batcher.submit([i]) for i in range(12)))
        await batcher.close()

    run(scenario)
    assert sum(sizes) == 12
    assert max(sizes) <= 5


def test_invalid_limit() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DynamicBatcher(
            Recorder(), executor=ThreadPoolExecutor(1), max_batch_size=0, max_latency_ms=1
        )


def test_a_lone_request_runs_inline_and_concurrent_ones_on_the_executor() -> None:
    threads: list[str] = []
    observed: list[list[int]] = []

    def model(items: list[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        return [i * 10 for i in items]

    async def scenario(pool: ThreadPoolExecutor) -> tuple[list[int], list[list[int]]]:
        batcher = DynamicBatcher(
            model,
            executor=pool,
            max_batch_size=8,
            max_latency_ms=5,
            after_batch=observed.append,
            after_inline_every=3,
        )
        lone = [(await batcher.submit([i]))[0] for i in range(4)]  # one after another
        await asyncio.sleep(0)  # the gathered after-batch step runs after the answers
        together = await asyncio.gather(*(batcher.submit([i]) for i in range(10, 14)))
        await batcher.close()
        return lone, together

    with ThreadPoolExecutor(1, thread_name_prefix="inference") as pool:
        lone, together = asyncio.run(scenario(pool))
    assert lone == [0, 10, 20, 30]
    assert together == [[100], [110], [120], [130]]
    assert threads[:4] == [threading.main_thread().name] * 4  # no hand-off for a lone caller
    assert all(t.startswith("inference") for t in threads[4:])  # concurrent ones are batched
    assert len(threads) < 8
    assert observed[0] == [0, 1, 2]  # inline runs' bookkeeping, gathered by three
    assert sorted(i for batch in observed for i in batch) == [0, 1, 2, 3, 10, 11, 12, 13]


def test_quick_batches_run_on_the_loop_and_slow_ones_go_back_to_the_executor() -> None:
    threads: list[tuple[str, int]] = []
    observed: list[int] = []
    delay = {"s": 0.0}

    def model(items: list[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        time.sleep(delay["s"])
        threads.append((threading.current_thread().name, len(items)))
        return [i * 10 for i in items]

    async def scenario(pool: ThreadPoolExecutor) -> list[Any]:
        batcher = DynamicBatcher(
            model,
            executor=pool,
            max_batch_size=4,
            max_latency_ms=5,
            after_batch=observed.extend,
            inline_under_ms=20,
        )
        answers: list[Any] = []
        for _ in range(3):  # the first batch's time is unknown: executor; then on the loop
            answers += await asyncio.gather(*(batcher.submit([i]) for i in range(4)))
        bad = await asyncio.gather(
            batcher.submit([1]), batcher.submit([-1]), return_exceptions=True
        )
        delay["s"] = 0.1  # batches now take longer than the limit: back to the executor
        for _ in range(3):
            answers += await asyncio.gather(*(batcher.submit([i]) for i in range(4)))
        await batcher.close()
        return [answers, bad]

    with ThreadPoolExecutor(1, thread_name_prefix="inference") as pool:
        answers, bad = asyncio.run(scenario(pool))
    assert answers == [[i * 10] for i in range(4)] * 6
    assert bad[0] == [10]
    assert isinstance(bad[1], ValueError)  # the bad one fails alone
    main = threading.main_thread().name
    batches = [(name, size) for name, size in threads if size > 1]
    assert batches[0][0].startswith("inference")
    assert batches[1] == (main, 4)  # quick: no hand-off
    assert batches[2] == (main, 4)
    assert batches[-1][0].startswith("inference")  # slow: off the loop again
    assert len(observed) == 25  # every answered item (not the failed one) is observed
