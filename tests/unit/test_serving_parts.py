"""Settings, version ordering, the feedback book and the drift monitor."""

from __future__ import annotations

import gc
from collections import deque
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mlops_core.reference_stats import (
    ReferenceStats,
    ReferenceStatsError,
    categorical_stats,
    numeric_stats,
)
from mlops_serving import drift_monitor
from mlops_serving.drift_monitor import DriftMonitor
from mlops_serving.feedback import FeedbackBook, PredictionRecord, UnknownPredictionError
from mlops_serving.settings import ServerSettings
from mlops_serving.versions import highest, semver_key

pytestmark = pytest.mark.unit


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REPOSITORY_URI", "s3://mlops/models")
    monkeypatch.setenv("PRELOAD_MODELS", "fraud:1.2.0, spam")
    monkeypatch.setenv("MODEL_VERSIONS", "fraud:1.2.0")
    monkeypatch.setenv("MAX_MODELS_IN_MEMORY", "3")
    monkeypatch.setenv("DRIFT_DETECTION_METHOD", "wasserstein")
    monkeypatch.setenv("WARMUP_ON_LOAD", "false")
    settings = ServerSettings()
    assert settings.model_repository_uri == "s3://mlops/models"
    assert settings.preload() == [("fraud", "1.2.0"), ("spam", None)]
    assert settings.pinned_versions() == {"fraud": "1.2.0"}
    assert settings.serving.max_models_in_memory == 3
    assert settings.drift.method == "wasserstein"
    assert settings.serving.warmup is False


def test_bad_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRELOAD_MODELS", "fraud:")
    with pytest.raises(ValidationError, match="'name:version'"):
        ServerSettings()
    monkeypatch.setenv("PRELOAD_MODELS", "")
    monkeypatch.setenv("DRIFT_DETECTION_METHOD", "chi2")
    with pytest.raises(ValidationError, match=r"DRIFT_DETECTION_METHOD: .*'psi'"):
        ServerSettings()


def test_semver_ordering() -> None:
    assert highest(["1.2.0", "1.10.0", "1.9.9", "latest"]) == "1.10.0"
    assert highest(["2.0.0-rc.1", "1.9.0"]) == "2.0.0-rc.1"
    assert highest(["2.0.0-rc.1", "2.0.0"]) == "2.0.0"
    assert highest(["2.0.0-rc.2", "2.0.0-rc.10"]) == "2.0.0-rc.10"
    assert semver_key("v1.0.0") is not None
    assert semver_key("01.0.0") is None
    assert highest(["nightly"]) is None


def test_feedback_book_tallies_per_version_and_forgets_old_ids() -> None:
    book = FeedbackBook(capacity=2)
    book.record("a", PredictionRecord("m", "1", "cat"))
    book.record("b", PredictionRecord("m", "1", "dog"))
    book.record("c", PredictionRecord("m", "2", "cat"))
    with pytest.raises(UnknownPredictionError):
        book.feedback("a", "cat")  # aged out
    hit, acc = book.feedback("b", "dog")
    assert hit
    assert (acc.correct, acc.samples, acc.accuracy) == (1, 1, 1.0)
    hit, acc = book.feedback("c", "dog")
    assert not hit
    assert acc.accuracy == 0.0
    assert [(a.version, a.samples) for a in book.accuracy("m")] == [("1", 1), ("2", 1)]
    with pytest.raises(UnknownPredictionError):
        book.feedback("b", "dog")  # only once


def test_a_full_feedback_book_leaves_the_garbage_collector_nothing_to_scan() -> None:
    # every prediction waits in the book for its label; were the waiting ones objects the cyclic
    # GC tracks, each full collection would walk 100,000 of them: pauses of tens of ms at p99
    book = FeedbackBook(capacity=20_000)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(20_000):
        book.record(f"id-{i}", PredictionRecord("m", "1", "cat" if i % 2 else "dog"))
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    hit, _ = book.feedback("id-19999", "cat")
    assert hit


def _reference() -> ReferenceStats:
    rng = np.random.default_rng(0)
    return ReferenceStats(
        features=[
            numeric_stats("amount", rng.normal(100, 10, 2000)),
            categorical_stats("color", list(rng.choice(["red", "blue"], 2000))),
        ]
    )


def test_drift_monitor_windows_and_scores() -> None:
    monitor = DriftMonitor(
        _reference(), method="psi", threshold=0.2, window_size=100, min_samples=20
    )
    assert monitor.features == ["amount", "color"]
    monitor.observe({"amount": [100.0] * 10}, {"color": ["red"] * 10})
    report = monitor.report()
    assert all(f.score is None for f in report.features)  # below min_samples
    assert report.max_score is None
    rng = np.random.default_rng(1)
    monitor.observe(
        {"amount": list(rng.normal(100, 10, 300)), "unknown": [1.0]},
        {"color": list(rng.choice(["red", "blue"], 300))},
    )
    report = monitor.report()
    amount = next(f for f in report.features if f.name == "amount")
    assert amount.samples == 100  # a sliding window
    assert not report.drifted
    monitor.observe(
        {"amount": [float("nan"), *rng.normal(160, 10, 100)]}, {"color": ["green"] * 100}
    )
    report = monitor.report()
    assert {f.name for f in report.features if f.drifted} == {"amount", "color"}
    assert report.max_score is not None
    assert report.max_score > 1


def test_drift_monitor_extracts_kept_records_only_when_reporting() -> None:
    calls: list[int] = []

    def extract(records: list[Any]) -> tuple[dict[str, list[float]], dict[str, list[str | None]]]:
        calls.append(len(records))
        if any("amount" not in r for r in records):
            raise ValueError("a record without amount")
        return (
            {"amount": [float(r["amount"]) for r in records]},
            {"color": [r.get("color") for r in records]},
        )

    monitor = DriftMonitor(
        _reference(), method="psi", threshold=0.2, window_size=50, min_samples=20, extract=extract
    )
    for i in range(40):
        monitor.observe_records([{"amount": 100.0 + i % 7, "color": "red"}, {"color": "blue"}])
    assert calls == []  # nothing extracted on the serving path
    report = monitor.report()
    amount = next(f for f in report.features if f.name == "amount")
    assert amount.samples == 25  # the last 50 records kept, 25 of them with amount
    assert calls[0] == 50  # one extraction of all, then record by record after the error
    assert monitor.report().features == report.features  # nothing new to extract


def test_drift_monitor_reads_its_reference_source_for_the_first_report_only() -> None:
    reads: list[int] = []

    def source() -> tuple[ReferenceStats, str]:
        reads.append(1)
        return _reference(), "s3://bucket/stats.json"

    monitor = DriftMonitor(source, method="psi", threshold=0.2, window_size=100, min_samples=20)
    monitor.observe_records([{"amount": 1.0}] * 19)
    assert reads == []  # loading and serving read nothing
    assert not monitor.scorable  # fewer inputs than min_samples: a scrape leaves it unread
    monitor.observe_records([{"amount": 1.0}])
    assert monitor.scorable
    report = monitor.report()
    assert [f.name for f in report.features] == ["amount", "color"]
    assert report.reference == "s3://bucket/stats.json"
    monitor.report()
    assert reads == [1]


def test_drift_monitor_whose_source_fails_scores_nothing_and_tries_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("mlops_serving.drift_monitor.time.monotonic", lambda: now[0])
    answers: list[ReferenceStats | None] = [None, _reference()]

    def source() -> tuple[ReferenceStats, str]:
        answer = answers.pop(0)
        if answer is None:
            raise ReferenceStatsError("reference_stats.json does not match the manifest")
        return answer, "training"

    monitor = DriftMonitor(source, method="psi", threshold=0.2, window_size=100, min_samples=20)
    assert monitor.report().features == []
    now[0] += drift_monitor.SOURCE_RETRY_S / 2
    assert monitor.report().features == []  # not tried again so soon
    assert len(answers) == 1
    now[0] += drift_monitor.SOURCE_RETRY_S
    assert [f.name for f in monitor.report().features] == ["amount", "color"]


def test_a_numeric_window_keeps_the_last_finite_values_in_order() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 7, 50):
        window, expected = drift_monitor.NumericWindow(size), deque[float](maxlen=size)
        assert len(window) == 0
        assert window.values().tolist() == []
        for _ in range(40):
            chunk = rng.normal(size=int(rng.integers(0, 2 * size + 3))).tolist()
            chunk += [float("nan"), float("inf")][: int(rng.integers(0, 3))]
            rng.shuffle(chunk)
            window.extend(chunk)
            expected.extend(v for v in chunk if np.isfinite(v))
            assert len(window) == len(expected)
            assert window.values().tolist() == list(expected)
