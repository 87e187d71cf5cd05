"""What eviction rules allow on a request trace, replayed offline: the loads of LRU and of LFU,
of the rule that knows each version's popularity (evict the least popular held), and of Belady's
rule (evict the version needed furthest in the future), which knows the future and so loads the
least any rule can from the same start.

When requests are drawn independently from fixed popularities, holding the ``capacity`` most
popular versions is the best a rule can do without knowing the trace itself (Aho, Denning and
Ullman, 1971): after it has loaded them, each request is a load with the probability of the
versions left out. :func:`stationary_loads` is that probability, a bound below every online rule,
LRU, LFU and any rule not tried alike, in the long run.

A cache of ``capacity`` versions starts holding ``start``; each request for a version not held
is a load (the version is then held, evicting one when full). Replaying the trace each system
was sent says where a measured loads-per-request figure stands between what an online rule
reaches and what no rule can beat.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence


def lru_loads(trace: Sequence[str], capacity: int, start: Iterable[str]) -> int:
    held: OrderedDict[str, None] = OrderedDict((v, None) for v in start)
    loads = 0
    for version in trace:
        if version in held:
            held.move_to_end(version)
            continue
        loads += 1
        if len(held) >= capacity:
            held.popitem(last=False)
        held[version] = None
    return loads


def lfu_loads(trace: Sequence[str], capacity: int, start: Iterable[str]) -> int:
    """Evict the version requested least often so far (the least recent among equals)."""
    held: OrderedDict[str, None] = OrderedDict((v, None) for v in start)
    requested: Counter[str] = Counter()
    loads = 0
    for version in trace:
        requested[version] += 1
        if version in held:
            held.move_to_end(version)
            continue
        loads += 1
        if len(held) >= capacity:
            del held[min(held, key=requested.__getitem__)]  # min keeps the first: least recent
        held[version] = None
    return loads


def popularity_loads(
    trace: Sequence[str], capacity: int, start: Iterable[str], popularity: Mapping[str, float]
) -> int:
    """Evict the held version that is least popular (popularity: its probability of being
    requested, known in advance; a version not in it counts as never requested)."""
    held = set(start)
    loads = 0
    for version in trace:
        if version in held:
            continue
        loads += 1
        if len(held) >= capacity:
            held.remove(min(held, key=lambda v: (popularity.get(v, 0.0), v)))
        held.add(version)
    return loads


def stationary_loads(popularity: Mapping[str, float], capacity: int) -> float:
    """Loads per request in the long run of the best rule that does not know the trace, when
    requests are drawn independently with these popularities: the share of the versions outside
    the ``capacity`` most popular."""
    ranked = sorted(popularity.values(), reverse=True)
    total = sum(ranked)
    return sum(ranked[capacity:]) / total if total > 0 else 0.0


def belady_loads(trace: Sequence[str], capacity: int, start: Iterable[str]) -> int:
    """Evict the held version whose next request is furthest away (never requested again:
    furthest of all)."""
    never = len(trace)
    following = [never] * len(trace)  # the index of the next request for the same version
    upcoming: dict[str, int] = {}
    for index in range(len(trace) - 1, -1, -1):
        following[index] = upcoming.get(trace[index], never)
        upcoming[trace[index]] = index
    held = {v: upcoming.get(v, never) for v in start}  # version -> index of its next request
    loads = 0
    for index, version in enumerate(trace):
        if version not in held:
            loads += 1
            if len(held) >= capacity:
                del held[max(held, key=held.__getitem__)]
        held[version] = following[index]
    return loads


def best_start(trace: Sequence[str], capacity: int) -> list[str]:
    """The start that lets Belady's rule load least: the first ``capacity`` versions requested."""
    return list(dict.fromkeys(trace))[:capacity]
