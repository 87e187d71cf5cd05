"""Eviction rules replayed on request traces (``benchmarks/harness/eviction.py``), and the
multi-model benchmark's replay of its own traces."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness.eviction import (  # noqa: E402
    belady_loads,
    best_start,
    lfu_loads,
    lru_loads,
    popularity_loads,
    stationary_loads,
)
from multi_model import replayed_loads, zipf_popularity, zipf_trace  # noqa: E402

pytestmark = pytest.mark.unit

#: two hot versions and a cold one in turn: LRU with two places evicts each just before its turn
TRACE = list("abcabdabeabf")


def test_each_rule_on_a_trace_worked_by_hand() -> None:
    assert lru_loads(TRACE, 2, []) == 12
    assert lfu_loads(TRACE, 2, []) == 10  # keeps a and b once they lead the counts
    assert belady_loads(TRACE, 2, []) == 9
    # a known to be hottest stays; b and each cold one take turns in the other place
    assert popularity_loads(TRACE, 2, [], {"a": 0.4, "b": 0.3}) == 9
    assert popularity_loads(TRACE, 3, [], {"a": 0.4, "b": 0.4}) == 6  # a, b, c, then d, e, f
    assert best_start(TRACE, 3) == ["a", "b", "c"]
    assert belady_loads(TRACE, 3, best_start(TRACE, 3)) == 3  # d, e and f, met once each


def test_what_is_held_at_the_start_is_not_loaded() -> None:
    assert lru_loads(list("abab"), 2, ["a", "b"]) == 0
    assert belady_loads(list("abab"), 2, ["a", "b"]) == 0
    assert lfu_loads(list("abc"), 2, ["a", "b"]) == 1
    assert popularity_loads(list("abab"), 2, ["a", "b"], {}) == 0


def test_the_stationary_bound_is_the_share_of_the_versions_left_out() -> None:
    popularity = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    assert stationary_loads(popularity, 2) == pytest.approx(0.2)
    assert stationary_loads(popularity, 4) == 0.0
    assert stationary_loads(popularity, 0) == pytest.approx(1.0)


def test_the_zipf_popularity_is_what_the_trace_is_drawn_from() -> None:
    popularity = zipf_popularity(50, 3)
    assert sum(popularity) == pytest.approx(1.0)
    trace = zipf_trace(50, 20000, 3)
    hottest = max(range(50), key=popularity.__getitem__)
    assert trace.count(hottest) / len(trace) == pytest.approx(popularity[hottest], abs=0.02)
    assert zipf_popularity(50, 4) != popularity  # each seed ranks the models anew


def test_knowing_the_popularity_loads_as_the_stationary_bound_says_in_the_long_run() -> None:
    names = [f"m{i}" for i in range(60)]
    popularity = dict(zip(names, zipf_popularity(60, 0), strict=True))
    trace = [names[i] for i in zipf_trace(60, 40000, 0)]
    loads = popularity_loads(trace, 20, best_start(trace, 20), popularity) / len(trace)
    assert loads == pytest.approx(stationary_loads(popularity, 20), rel=0.05)
    assert lru_loads(trace, 20, []) / len(trace) > loads


def test_no_rule_loads_less_than_belady_from_the_same_start() -> None:
    names = [f"m{i}" for i in range(60)]
    for seed in range(5):
        trace = [names[i] for i in zipf_trace(len(names), 800, seed)]
        start = names[seed : seed + 20]
        oracle = belady_loads(trace, 20, start)
        assert oracle <= lru_loads(trace, 20, start)
        assert oracle <= lfu_loads(trace, 20, start)
        assert belady_loads(trace, 20, best_start(trace, 20)) <= oracle


def test_the_benchmark_replays_each_server_s_share_of_its_traces() -> None:
    names = [f"m{i}" for i in range(200)]
    server_of = {n: f"server-{i % 2}" for i, n in enumerate(names)}
    traces = [
        (
            [names[i] for i in zipf_trace(len(names), 4000, seed)],
            dict(zip(names, zipf_popularity(len(names), seed), strict=True)),
        )
        for seed in range(2)
    ]
    replayed = replayed_loads(traces, server_of, 66)
    assert list(replayed) == [
        "replayed_lru_loads_per_1000",
        "replayed_lfu_loads_per_1000",
        "replayed_known_popularity_loads_per_1000",
        "replayed_belady_loads_per_1000",
        "replayed_belady_best_start_loads_per_1000",
        "stationary_bound_loads_per_1000",
    ]
    lru, lfu, known, belady, best, bound = replayed.values()
    assert best <= belady < known < lfu < lru
    # 66 of each server's 100 versions held: the bound is the Zipf mass of the other 34
    assert 45 < bound < 60
    # every version held: nothing to load but what no start holds
    assert replayed_loads(traces, server_of, 100)["replayed_belady_best_start_loads_per_1000"] == 0
