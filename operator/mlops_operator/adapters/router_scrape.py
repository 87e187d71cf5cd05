"""The one adapter that reads router pods' own ``/metrics`` over HTTP (no Prometheus needed);
what the numbers mean is decided in ``rollout.measure``."""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mlops_operator.rollout.measure import (
    MetricsFormatError,
    RouterTotals,
    parse_router_metrics,
    sum_totals,
)


def _scrape(address: str, timeout: float) -> RouterTotals:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as response:
        return parse_router_metrics(response.read().decode())


def read_router_totals(
    addresses: Sequence[str], *, timeout: float
) -> tuple[RouterTotals | None, str | None]:
    """Per-version totals summed over every router pod, or None and why. All pods or none:
    a step judged on some of the routers' counters would be judged on a sample that changes
    with which pods answered."""
    if not addresses:
        return None, "no ready router pod"
    with ThreadPoolExecutor(max_workers=min(8, len(addresses))) as pool:
        futures = [pool.submit(_scrape, address, timeout) for address in addresses]
        parts = []
        for address, future in zip(addresses, futures, strict=True):
            try:
                parts.append(future.result())
            except (OSError, MetricsFormatError) as exc:
                return None, f"router {address}: {exc}"
    return sum_totals(parts), None
