"""The operator-wide resync of unfinished TrainingJobs (a real thread, real timing)."""

from __future__ import annotations

import threading
import time

import pytest

from mlops_operator.handlers.resync import Resync, UnfinishedRuns

pytestmark = pytest.mark.unit


def test_unfinished_runs_follow_the_latest_event() -> None:
    runs = UnfinishedRuns()
    runs.observe(("b", "run-2"), uid="u2", unfinished=True)
    runs.observe(("a", "run-1"), uid="u1", unfinished=True)
    runs.observe(("a", "run-3"), uid="u3", unfinished=True)
    runs.observe(("a", "run-3"), uid="u3", unfinished=False)  # finished or deleted
    runs.observe(("a", "never-seen"), uid="u4", unfinished=False)
    assert runs.snapshot() == [(("a", "run-1"), "u1"), (("b", "run-2"), "u2")]


def test_one_pass_reconciles_every_unfinished_run_and_survives_failures() -> None:
    runs = UnfinishedRuns()
    for name in ("run-1", "run-2", "run-3"):
        runs.observe(("ns", name), uid=f"uid-{name}", unfinished=True)
    called: list[tuple[str, str, str]] = []

    def reconcile(namespace: str, name: str, uid: str) -> None:
        called.append((namespace, name, uid))
        if name == "run-2":
            raise RuntimeError("the API server is away")

    resync = Resync(interval=60, runs=runs, reconcile=reconcile)
    assert resync.run_once() == 3
    assert called == [
        ("ns", "run-1", "uid-run-1"),
        ("ns", "run-2", "uid-run-2"),
        ("ns", "run-3", "uid-run-3"),
    ]


def test_the_thread_repeats_every_interval_and_stops_promptly() -> None:
    runs = UnfinishedRuns()
    runs.observe(("ns", "run-1"), uid="u1", unfinished=True)
    passes = threading.Semaphore(0)
    resync = Resync(interval=0.05, runs=runs, reconcile=lambda *_: passes.release())
    resync.ensure_started()
    resync.ensure_started()  # a second start is a no-op: still one thread
    try:
        for _ in range(3):
            assert passes.acquire(timeout=5), "the resync did not run again"
    finally:
        started = time.monotonic()
        resync.stop()
    assert time.monotonic() - started < 2
    assert [t for t in threading.enumerate() if t.name == "trainingjob-resync"] == []
    resync.ensure_started()  # after stop, nothing starts again
    assert [t for t in threading.enumerate() if t.name == "trainingjob-resync"] == []


def test_nothing_runs_before_the_first_interval() -> None:
    runs = UnfinishedRuns()
    runs.observe(("ns", "run-1"), uid="u1", unfinished=True)
    called: list[str] = []
    resync = Resync(interval=30, runs=runs, reconcile=lambda _ns, name, _uid: called.append(name))
    resync.ensure_started()
    time.sleep(0.2)
    resync.stop()
    assert called == []
