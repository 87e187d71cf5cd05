"""Placement of a pool's served versions on its servers, by free memory, copies spread.

Invariants (``tests/unit/test_placement.py`` checks each on random pools):

* every placed version is on ``min(copies, ready servers)`` distinct ready servers, never on a
  server that is not ready;
* a version whose size (weights plus the per-model overhead) exceeds every ready server's budget
  is not placed, and its reason says so and what to change; with no ready server nothing is
  placed and the reason says to scale the pool up;
* a copy that is still on a ready server stays there (no churn): only copies on lost servers,
  missing copies and the rebalancing below move anything;
* new copies go to the server with the most free memory (ties: the lower name), biggest versions
  first, so placed bytes stay even across servers;
* rebalancing (after servers are added) moves a copy from the fullest server to the emptiest
  only while that strictly narrows the gap between them, so it ends and never oscillates;
* the same input gives the same output.

Placed bytes may exceed a server's budget when the pool holds more than its memory (the pool is
overcommitted): a server then preloads what fits and loads the rest on demand, evicting the least
recently used; ``Placement.overcommitted`` names those servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: (model, version)
VersionKey = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class ServerSlot:
    """A server of the pool: its name, whether it is ready and its model memory budget."""

    name: str
    ready: bool
    budget_bytes: int


@dataclass(frozen=True, kw_only=True)
class VersionDemand:
    """A served version: its size in memory (weights plus overhead) and the copies it wants."""

    key: VersionKey
    size_bytes: int
    copies: int


@dataclass(frozen=True, kw_only=True)
class Refusal:
    key: VersionKey
    reason: str


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Servers of each placed version (in preference order), and what could not be placed."""

    servers_of: dict[VersionKey, tuple[str, ...]]
    refused: tuple[Refusal, ...]
    placed_bytes: dict[str, int]
    budgets: dict[str, int] = field(default_factory=dict)

    def versions_on(self, server: str) -> list[VersionKey]:
        """What ``server`` holds, sorted."""
        return sorted(key for key, names in self.servers_of.items() if server in names)

    @property
    def overcommitted(self) -> list[str]:
        return sorted(n for n, used in self.placed_bytes.items() if used > self.budgets.get(n, 0))


def place(
    servers: Sequence[ServerSlot],
    demands: Sequence[VersionDemand],
    *,
    previous: Mapping[VersionKey, Sequence[str]] | None = None,
) -> Placement:
    """Where each of ``demands`` goes, starting from ``previous`` (the last placement)."""
    ready = sorted((s for s in servers if s.ready), key=lambda s: s.name)
    budgets = {s.name: s.budget_bytes for s in ready}
    load = dict.fromkeys(budgets, 0)
    chosen: dict[VersionKey, list[str]] = {}
    refused: list[Refusal] = []
    largest = max(budgets.values(), default=0)
    wanted: list[VersionDemand] = []
    for demand in sorted(demands, key=lambda d: d.key):
        if not ready:
            refused.append(Refusal(key=demand.key, reason=_no_servers(len(servers))))
        elif demand.size_bytes > largest:
            refused.append(Refusal(key=demand.key, reason=_too_large(demand, largest)))
        else:
            wanted.append(demand)
    # copies still on a ready server that holds them stay where they are
    for demand in wanted:
        fits = [s for s in (previous or {}).get(demand.key, ()) if _fits(demand, s, budgets)]
        kept = list(dict.fromkeys(fits))[: min(demand.copies, len(ready))]
        chosen[demand.key] = kept
        for name in kept:
            load[name] += demand.size_bytes
    for demand in sorted(wanted, key=lambda d: (-d.size_bytes, d.key)):
        names = chosen[demand.key]
        while len(names) < min(demand.copies, len(ready)):
            candidates = [n for n in budgets if n not in names and budgets[n] >= demand.size_bytes]
            if not candidates:
                break
            best = min(candidates, key=lambda n: (load[n] - budgets[n], n))
            names.append(best)
            load[best] += demand.size_bytes
    sizes = {d.key: d.size_bytes for d in wanted}
    _rebalance(chosen, sizes, load, budgets)
    return Placement(
        servers_of={key: tuple(names) for key, names in sorted(chosen.items()) if names},
        refused=tuple(refused),
        placed_bytes=load,
        budgets=budgets,
    )


def _fits(demand: VersionDemand, server: str, budgets: Mapping[str, int]) -> bool:
    return server in budgets and budgets[server] >= demand.size_bytes


def _rebalance(
    chosen: dict[VersionKey, list[str]],
    sizes: Mapping[VersionKey, int],
    load: dict[str, int],
    budgets: Mapping[str, int],
) -> None:
    """Move copies from the fullest server to the emptiest while that narrows their gap."""
    if len(load) < 2:
        return

    def free(name: str) -> int:
        return budgets[name] - load[name]

    for _ in range(sum(len(names) for names in chosen.values())):
        emptiest = max(load, key=lambda n: (free(n), n))
        fullest = min(load, key=lambda n: (free(n), n))
        gap = free(emptiest) - free(fullest)
        movable = [
            key
            for key, names in chosen.items()
            if fullest in names
            and emptiest not in names
            and sizes[key] < gap
            and budgets[emptiest] >= sizes[key]
        ]
        if not movable:
            return
        key = max(movable, key=lambda k: (sizes[k], k))
        names = chosen[key]
        names[names.index(fullest)] = emptiest
        load[fullest] -= sizes[key]
        load[emptiest] += sizes[key]


def _no_servers(total: int) -> str:
    if total == 0:
        return "the pool has no servers: set its spec.replicas above 0"
    return f"none of the pool's {total} servers is ready: see its server pods"


def _too_large(demand: VersionDemand, largest: int) -> str:
    model, version = demand.key
    return (
        f"{model} {version} needs {_mib(demand.size_bytes)} (weights plus the per-model "
        f"overhead), more than any server's model memory ({_mib(largest)}): raise the pool's "
        "spec.modelMemory (and resources.memory), or serve it outside the pool"
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
