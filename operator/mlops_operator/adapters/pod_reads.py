"""Many pods read at once, a bounded number at a time.

A reconcile that reads every server or router pod (drift reports, A/B tallies) would otherwise
wait for each pod in turn: one pod that does not answer costs its whole timeout before the next
is asked. Reading them side by side bounds a read of n pods by about one timeout (for up to
``READS_AT_ONCE`` pods), whatever one pod does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

#: pods asked at the same time by one read
READS_AT_ONCE: Final = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


def read_all(
    items: Sequence[Item], read: Callable[[Item], Result], *, at_once: int = READS_AT_ONCE
) -> list[Result]:
    """``read(item)`` of every item, at most ``at_once`` at a time, in the items' order.
    ``read`` turns its own failures into results and bounds its own time (a timeout)."""
    if len(items) <= 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(at_once, len(items))) as pool:
        return list(pool.map(read, items))
