"""Eviction rules replayed on request traces (``benchmarks/harness/eviction.py``), and the
multi-model benchmark's replay of its own traces."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from harness.eviction import belady_loads, best_start, lfu_loads, lru_loads  # noqa: E402
from multi_model import replayed_loads, zipf_trace  # noqa: E402

pytestmark = pytest.mark.unit

#: two hot versions and a cold one in turn: LRU with two places evicts each just before its turn
TRACE = list("abcabdabeabf")


def test_each_rule_on_a_trace_worked_by_hand() -> None:
    assert lru_loads(TRACE, 2, []) == 12
    assert lfu_loads(TRACE, 2, []) == 10  # keeps a and b once they lead the counts
    assert belady_loads(TRACE, 2, []) == 9
    assert best_start(TRACE, 3) == ["a", "b", "c"]
    assert belady_loads(TRACE, 3, best_start(TRACE, 3)) == 3  # d, e and f, met once each


def test_what_is_held_at_the_start_is_not_loaded() -> None:
    assert lru_loads(list("abab"), 2, ["a", "b"]) == 0
    assert belady_loads(list("abab"), 2, ["a", "b"]) == 0
    assert lfu_loads(list("abc"), 2, ["a", "b"]) == 1


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
    traces = [[names[i] for i in zipf_trace(len(names), 4000, seed)] for seed in range(2)]
    replayed = replayed_loads(traces, server_of, 66)
    assert list(replayed) == [
        "replayed_lru_loads_per_1000",
        "replayed_lfu_loads_per_1000",
        "replayed_belady_loads_per_1000",
        "replayed_belady_best_start_loads_per_1000",
    ]
    lru, lfu, belady, best = replayed.values()
    assert best <= belady < lfu < lru
    # every version held: nothing to load but what no start holds
    assert replayed_loads(traces, server_of, 100)["replayed_belady_best_start_loads_per_1000"] == 0
