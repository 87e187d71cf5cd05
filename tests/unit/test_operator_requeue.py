"""The operator-wide requeue: timed work for every kind, one thread (real thread, real timing
where timing is the point; a controllable clock where order is)."""

from __future__ import annotations

import threading
import time

import pytest

from mlops_operator.handlers.requeue import THREAD_NAME, Reconcile, Requeue
from mlops_operator.reconcile.notes import Outcome

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requeue_with(clock: Clock, **kwargs: float) -> Requeue:
    requeue = Requeue(clock=clock, **kwargs)
    requeue.ensure_started = lambda: None  # type: ignore[method-assign]  # run_due only
    return requeue


def test_due_objects_run_in_due_order_per_kind() -> None:
    clock = Clock()
    requeue = requeue_with(clock)
    calls: list[tuple[str, str, str]] = []

    def recorder(kind: str) -> Reconcile:
        def reconcile(namespace: str, name: str) -> None:
            calls.append((kind, namespace, name))

        return reconcile

    requeue.handle("TrainingJob", recorder("TrainingJob"))
    requeue.handle("Deployment", recorder("Deployment"))
    requeue.schedule("Deployment", "a", "web", after=10)
    requeue.schedule("TrainingJob", "a", "run-1", after=5)
    requeue.schedule("TrainingJob", "b", "run-2", after=30)
    assert requeue.run_due() == 0
    clock.now += 10
    assert requeue.run_due() == 2
    assert calls == [("TrainingJob", "a", "run-1"), ("Deployment", "a", "web")]
    assert [key for key, _ in requeue.pending()] == [("TrainingJob", "b", "run-2")]


def test_a_look_asked_for_now_goes_before_overdue_timed_looks() -> None:
    """Workers behind (many timed looks overdue): a watch event's look starts next, whether
    the object was not scheduled at all or was itself among the overdue ones."""
    clock = Clock()
    requeue = requeue_with(clock)
    calls: list[str] = []

    def reconcile(_namespace: str, name: str) -> None:
        calls.append(name)

    requeue.handle("TrainingJob", reconcile)
    requeue.handle("Deployment", reconcile)
    for n in range(5):
        requeue.schedule("TrainingJob", "a", f"run-{n}", after=30 + n)
    requeue.schedule("Deployment", "a", "overdue", after=40)
    clock.now += 60
    requeue.schedule("Deployment", "a", "changed", after=0)
    requeue.schedule("Deployment", "a", "overdue", after=0)
    requeue.schedule("Deployment", "a", "changed", after=0)  # asked twice, runs once
    assert requeue.run_due() == 7
    assert calls == ["changed", "overdue", *(f"run-{n}" for n in range(5))]
    # cancelled after being asked for now: not run; asked again: first again
    requeue.schedule("TrainingJob", "a", "run-9", after=-1)
    requeue.schedule("Deployment", "a", "gone", after=0)
    requeue.cancel("Deployment", "a", "gone")
    clock.now += 1
    requeue.schedule("Deployment", "a", "back", after=0)
    calls.clear()
    assert requeue.run_due() == 2
    assert calls == ["run-9", "back"]


def test_a_change_of_the_object_itself_goes_before_other_events() -> None:
    """Children's events have woken many Deployments; a spec change of another starts next."""
    clock = Clock()
    requeue = requeue_with(clock)
    calls: list[str] = []

    def reconcile(_namespace: str, name: str) -> None:
        calls.append(name)

    requeue.handle("Deployment", reconcile)
    requeue.schedule("Deployment", "a", "timed", after=5)
    clock.now += 10
    for n in range(3):
        requeue.schedule("Deployment", "a", f"child-{n}", after=0)
    requeue.schedule("Deployment", "a", "edited", after=0, change=True)
    requeue.schedule("Deployment", "a", "child-2", after=0, change=True)  # edited too
    assert requeue.run_due() == 5
    assert calls == ["edited", "child-2", "child-0", "child-1", "timed"]


def test_the_earliest_due_time_wins_and_cancel_forgets() -> None:
    clock = Clock()
    requeue = requeue_with(clock)
    calls: list[str] = []

    def reconcile(_namespace: str, name: str) -> None:
        calls.append(name)

    requeue.handle("Experiment", reconcile)
    requeue.schedule("Experiment", "ns", "search", after=5)
    requeue.schedule("Experiment", "ns", "search", after=60)  # later: ignored
    assert requeue.pending()[0][1] == pytest.approx(5)
    requeue.schedule("Experiment", "ns", "search", after=1)  # sooner: taken
    ((key, delay),) = requeue.pending()
    assert key == ("Experiment", "ns", "search")
    assert delay == pytest.approx(1)
    requeue.schedule("Experiment", "ns", "other", after=1)
    requeue.cancel("Experiment", "ns", "other")
    clock.now += 100
    assert requeue.run_due() == 1
    assert calls == ["search"]  # once, although scheduled three times


def test_the_callback_sets_the_next_look_and_none_ends_it() -> None:
    clock = Clock()
    requeue = requeue_with(clock)
    answers = iter([7.0, None])
    requeue.handle("Deployment", lambda _ns, _name: next(answers))
    requeue.schedule("Deployment", "ns", "web", after=0)
    assert requeue.run_due() == 1
    ((key, delay),) = requeue.pending()
    assert key == ("Deployment", "ns", "web")
    assert delay == pytest.approx(7.0)
    clock.now += 7
    assert requeue.run_due() == 1
    assert requeue.pending() == []


def test_failures_back_off_and_a_success_resets_the_delay() -> None:
    clock = Clock()
    requeue = requeue_with(clock, first_error_delay=1.0, max_error_delay=4.0)
    results: list[object] = [RuntimeError("away"), RuntimeError("away"), RuntimeError("away")]
    results += [RuntimeError("still away"), 30.0, RuntimeError("again")]

    def reconcile(_ns: str, _name: str) -> float | None:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[return-value]

    requeue.handle("TrainingJob", reconcile)
    requeue.schedule("TrainingJob", "ns", "run", after=0)
    delays = []
    for _ in range(6):
        assert requeue.run_due() == 1
        ((_, delay),) = requeue.pending()
        delays.append(round(delay, 6))
        clock.now += delay
    assert delays == [1.0, 2.0, 4.0, 4.0, 30.0, 1.0]


def test_scheduling_an_unknown_kind_is_a_clear_error() -> None:
    requeue = Requeue()
    with pytest.raises(ValueError, match="no callback for Experiment"):
        requeue.schedule("Experiment", "ns", "x", after=1)
    requeue.handle("Experiment", lambda _ns, _n: None)
    with pytest.raises(ValueError, match="already has a callback"):
        requeue.handle("Experiment", lambda _ns, _n: None)


def test_the_thread_runs_at_the_due_time_and_stops_promptly() -> None:
    requeue = Requeue()
    ran = threading.Event()

    def reconcile(_namespace: str, _name: str) -> None:
        ran.set()

    requeue.handle("Deployment", reconcile)
    started = time.monotonic()
    requeue.schedule("Deployment", "ns", "web", after=0.2)
    requeue.schedule("Deployment", "ns", "later", after=3600)
    try:
        assert ran.wait(5), "the requeue did not run the due object"
        assert time.monotonic() - started >= 0.19
        assert [t.name for t in threading.enumerate()].count(THREAD_NAME) == 1
        assert any(t.name.startswith(f"{THREAD_NAME}-") for t in threading.enumerate())
    finally:
        stopping = time.monotonic()
        requeue.stop()
    assert time.monotonic() - stopping < 2  # not waiting for the hour-later object
    assert THREAD_NAME not in [t.name for t in threading.enumerate()]
    requeue.schedule("Deployment", "ns", "web", after=0)  # after stop, nothing starts again
    assert THREAD_NAME not in [t.name for t in threading.enumerate()]


def test_one_hung_reconcile_does_not_delay_the_others_nor_runs_twice_at_once() -> None:
    requeue = Requeue(workers=2)
    release = threading.Event()
    fast_ran = threading.Event()
    hung_runs: list[float] = []
    at_once = []
    running = set()

    def reconcile(_namespace: str, name: str) -> None:
        if name in running:
            at_once.append(name)
        running.add(name)
        try:
            if name == "hung":
                hung_runs.append(time.monotonic())
                release.wait(5)  # a pod that does not answer until the read times out
            else:
                fast_ran.set()
        finally:
            running.discard(name)

    requeue.handle("Deployment", reconcile)
    try:
        requeue.schedule("Deployment", "ns", "hung", after=0)
        time.sleep(0.2)
        requeue.schedule("Deployment", "ns", "hung", after=0)  # due again while it hangs
        started = time.monotonic()
        requeue.schedule("Deployment", "ns", "fast", after=0)
        assert fast_ran.wait(2), "the hung reconcile held up the other one"
        assert time.monotonic() - started < 1.0
        assert len(hung_runs) == 1
        release.set()
        deadline = time.monotonic() + 5
        while len(hung_runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(hung_runs) == 2  # the look asked for while it ran, right after it
        assert at_once == []
    finally:
        release.set()
        requeue.stop()


def test_an_outcome_keeps_the_soonest_requested_look() -> None:
    outcome = Outcome()
    outcome.requeue(30)
    outcome.requeue(5)
    outcome.requeue(60)
    assert outcome.requeue_after == 5
