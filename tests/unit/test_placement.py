"""Placement of a pool's versions: the invariants of ``placement/decide.py``, on random pools."""

from __future__ import annotations

import random

import pytest

from mlops_operator.placement.decide import Placement, ServerSlot, VersionDemand, place

pytestmark = pytest.mark.unit

MIB = 2**20


def servers(count: int, *, budget: int = 100 * MIB, down: tuple[int, ...] = ()) -> list[ServerSlot]:
    return [
        ServerSlot(name=f"pool-server-{i}", ready=i not in down, budget_bytes=budget)
        for i in range(count)
    ]


def demands(
    count: int, *, seed: int = 0, copies: int = 2, largest: int = 20 * MIB
) -> list[VersionDemand]:
    rng = random.Random(seed)
    return [
        VersionDemand(key=(f"m{i}", "1.0.0"), size_bytes=rng.randint(MIB, largest), copies=copies)
        for i in range(count)
    ]


def check_invariants(
    result: Placement, pool: list[ServerSlot], wanted: list[VersionDemand]
) -> None:
    ready = {s.name for s in pool if s.ready}
    sizes = {d.key: d.size_bytes for d in wanted}
    for demand in wanted:
        names = result.servers_of.get(demand.key, ())
        refused = [r for r in result.refused if r.key == demand.key]
        if refused:
            assert not names
            continue
        assert len(names) == len(set(names)) == min(demand.copies, len(ready)), demand
        assert set(names) <= ready
    for name, used in result.placed_bytes.items():
        assert used == sum(sizes[k] for k in result.versions_on(name))


@pytest.mark.parametrize("seed", range(20))
def test_invariants_hold_on_random_pools(seed: int) -> None:
    rng = random.Random(seed)
    pool = servers(rng.randint(1, 6), down=tuple(rng.sample(range(6), rng.randint(0, 2))))
    wanted = demands(rng.randint(0, 80), seed=seed, copies=rng.randint(1, 4))
    result = place(pool, wanted)
    check_invariants(result, pool, wanted)
    # the same input, and the result fed back as the previous placement, change nothing
    assert place(pool, wanted) == result
    assert place(pool, wanted, previous=result.servers_of) == result


def test_copies_spread_and_bytes_even() -> None:
    pool = servers(3, budget=1000 * MIB)
    wanted = demands(60, copies=2)
    result = place(pool, wanted)
    check_invariants(result, pool, wanted)
    loads = sorted(result.placed_bytes.values())
    assert loads[-1] - loads[0] <= 20 * MIB  # at most one version's size apart
    assert not result.overcommitted


def test_a_version_larger_than_every_budget_is_refused_with_what_to_change() -> None:
    pool = servers(3, budget=50 * MIB)
    big = VersionDemand(key=("huge", "2.0.0"), size_bytes=60 * MIB, copies=1)
    small = VersionDemand(key=("small", "1.0.0"), size_bytes=MIB, copies=1)
    result = place(pool, [big, small])
    assert [r.key for r in result.refused] == [("huge", "2.0.0")]
    assert "spec.modelMemory" in result.refused[0].reason
    assert "60.0 MiB" in result.refused[0].reason
    assert result.servers_of[("small", "1.0.0")]


def test_no_ready_server_places_nothing_and_says_to_scale_up() -> None:
    result = place([], demands(3))
    assert not result.servers_of
    assert all("spec.replicas above 0" in r.reason for r in result.refused)
    result = place(servers(2, down=(0, 1)), demands(3))
    assert all("is ready" in r.reason for r in result.refused)


def test_copies_on_a_lost_server_move_and_the_others_stay() -> None:
    wanted = demands(40, copies=2)
    before = place(servers(3), wanted)
    after = place(servers(3, down=(1,)), wanted, previous=before.servers_of)
    check_invariants(after, servers(3, down=(1,)), wanted)
    for key, names in before.servers_of.items():
        kept = [n for n in names if n != "pool-server-1"]
        assert set(kept) <= set(after.servers_of[key])  # surviving copies did not move
        assert "pool-server-1" not in after.servers_of[key]


def test_an_added_server_takes_a_share_and_only_moved_copies_change() -> None:
    wanted = demands(60, copies=2)
    before = place(servers(3), wanted)
    after = place(servers(4), wanted, previous=before.servers_of)
    check_invariants(after, servers(4), wanted)
    assert after.versions_on("pool-server-3")
    loads = sorted(after.placed_bytes.values())
    assert loads[-1] - loads[0] <= 20 * MIB
    moved = sum(
        len(set(after.servers_of[k]) - set(before.servers_of[k])) for k in before.servers_of
    )
    # the new server's share moved, and little else: no reshuffle of the whole pool
    assert (
        len(after.versions_on("pool-server-3"))
        <= moved
        <= 1.5 * len(after.versions_on("pool-server-3"))
    )


def test_an_overcommitted_pool_still_places_every_version() -> None:
    pool = servers(3, budget=30 * MIB)
    wanted = demands(40, copies=2)  # ~ 40 × 10 MiB × 2 copies over 90 MiB
    result = place(pool, wanted)
    check_invariants(result, pool, wanted)
    assert len(result.servers_of) == 40
    assert result.overcommitted == ["pool-server-0", "pool-server-1", "pool-server-2"]


def test_more_copies_than_servers_uses_each_server_once() -> None:
    pool = servers(2)
    result = place(pool, [VersionDemand(key=("m", "1.0.0"), size_bytes=MIB, copies=5)])
    assert sorted(result.servers_of[("m", "1.0.0")]) == ["pool-server-0", "pool-server-1"]
