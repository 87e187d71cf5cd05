"""Many pods read at once, a bounded number at a time, each with one bounded GET.

A reconcile that reads every server or router pod (drift reports, A/B tallies) would otherwise
wait for each pod in turn: one pod that does not answer costs its whole timeout before the next
is asked. Reading them side by side bounds a read of n pods by about one timeout (for up to
``READS_AT_ONCE`` pods), whatever one pod does.
"""

from __future__ import annotations

import urllib.error
import urllib.request
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


def get_bounded(url: str, *, timeout: float, limit: int) -> bytes:
    """The body of ``GET url`` (plain HTTP inside the cluster), at most ``limit`` bytes.
    Raises ``ValueError`` saying why there is none: the HTTP status, unreachable (timeouts
    included), or an answer larger than ``limit``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http://)
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ValueError(f"unreachable: {exc.reason}") from None
    except OSError as exc:  # a timeout or reset while reading the answer
        raise ValueError(f"unreachable: {exc}") from None
    if len(body) > limit:
        raise ValueError(f"answer larger than {limit} bytes")
    return body
