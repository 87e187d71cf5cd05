"""The router's own metrics (``mlops_router_*``, Prometheus text) → per-version totals, summed
over router pods → what each version served since a step began (counter deltas) with its p99
latency from histogram bucket deltas, as Prometheus' ``histogram_quantile`` computes it.

A router pod that restarted starts its counters again at zero; a total below the step's
baseline is therefore taken as all new (the Prometheus rule for counter resets).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mlops_core import router_series
from mlops_operator.api.deployment_status import CounterSnapshot, Measurement

REQUESTS: str = router_series.REQUESTS
BUCKET: str = router_series.buckets_of(router_series.DURATION)
#: a pool router's: the same series with a ``deployment`` label (one pool serves many)
POOL_REQUESTS: str = router_series.POOL_REQUESTS
POOL_BUCKET: str = router_series.buckets_of(router_series.POOL_DURATION)
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class MetricsFormatError(ValueError):
    """A scrape that is not Prometheus text the router writes."""


@dataclass
class RouterTotals:
    """Per-version totals of one or more router pods, and the latency bucket bounds (s)."""

    bounds: list[float] = field(default_factory=list)
    versions: dict[str, CounterSnapshot] = field(default_factory=dict)

    def of(self, version: str) -> CounterSnapshot:
        return self.versions.get(version) or CounterSnapshot(
            version=version, buckets=[0] * len(self.bounds)
        )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise MetricsFormatError(f"not a number: {text!r}") from exc


def parse_router_metrics(text: str, *, deployment: str | None = None) -> RouterTotals:
    """One router pod's ``/metrics``; with ``deployment``, a pool router's series of that
    Deployment."""
    wanted_requests, wanted_bucket = (
        (REQUESTS, BUCKET) if deployment is None else (POOL_REQUESTS, POOL_BUCKET)
    )
    requests: dict[str, int] = {}
    errors: dict[str, int] = {}
    buckets: dict[str, dict[float, int]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise MetricsFormatError(f"unreadable metrics line: {line[:120]!r}")
        name, labels_text, value_text = match.groups()
        if name not in (wanted_requests, wanted_bucket):
            continue
        labels = dict(_LABEL.findall(labels_text or ""))
        version = labels.get("version")
        if version is None or (deployment is not None and labels.get("deployment") != deployment):
            continue
        value = int(_number(value_text))
        if name == wanted_requests:
            requests[version] = requests.get(version, 0) + value
            if labels.get("code", "").startswith("5"):
                errors[version] = errors.get(version, 0) + value
        else:
            bound = _number(labels.get("le", "+Inf"))
            buckets.setdefault(version, {})[bound] = value
    bounds = sorted({b for per in buckets.values() for b in per})
    totals = RouterTotals(bounds=bounds)
    for version in sorted(set(requests) | set(buckets)):
        per = buckets.get(version, {})
        totals.versions[version] = CounterSnapshot(
            version=version,
            requests=requests.get(version, 0),
            errors=errors.get(version, 0),
            buckets=[per.get(b, 0) for b in bounds],
        )
    return totals


def sum_totals(parts: Iterable[RouterTotals]) -> RouterTotals:
    """Totals of several router pods (their bucket bounds are the same: one image)."""
    result = RouterTotals()
    for part in parts:
        if not result.bounds:
            result.bounds = list(part.bounds)
        elif part.bounds and part.bounds != result.bounds:
            raise MetricsFormatError("router pods report different latency buckets")
        for version, snap in part.versions.items():
            mine = result.of(version)
            size = max(len(mine.buckets), len(snap.buckets))
            mine_b = mine.buckets + [0] * (size - len(mine.buckets))
            snap_b = snap.buckets + [0] * (size - len(snap.buckets))
            result.versions[version] = CounterSnapshot(
                version=version,
                requests=mine.requests + snap.requests,
                errors=mine.errors + snap.errors,
                buckets=[a + b for a, b in zip(mine_b, snap_b, strict=True)],
            )
    return result


def _delta(now: int, then: int) -> int:
    return now - then if now >= then else now


def quantile(q: float, bounds: Sequence[float], cumulative: Sequence[int]) -> float | None:
    """The q-quantile from cumulative bucket counts (upper bounds, +Inf last), interpolated
    linearly inside its bucket; None without observations. Beyond the last finite bound the
    highest finite bound is the answer (as in Prometheus)."""
    if not cumulative or cumulative[-1] <= 0:
        return None
    rank = q * cumulative[-1]
    lower, below = 0.0, 0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = (bound if not math.isinf(bound) else lower), count
    return lower


def since(now: CounterSnapshot, then: CounterSnapshot | None) -> CounterSnapshot:
    """What a version served between two snapshots, as counters (a reset counts as all new)."""
    base = then or CounterSnapshot(version=now.version, buckets=[0] * len(now.buckets))
    reset = now.requests < base.requests
    requests = now.requests if reset else now.requests - base.requests
    errors = now.errors if reset else _delta(now.errors, base.errors)
    if reset or len(base.buckets) != len(now.buckets):
        buckets = list(now.buckets)
    else:
        buckets = [_delta(a, b) for a, b in zip(now.buckets, base.buckets, strict=True)]
    return CounterSnapshot(
        version=now.version, requests=requests, errors=min(errors, requests), buckets=buckets
    )


def measure(
    now: CounterSnapshot, then: CounterSnapshot | None, bounds: Sequence[float]
) -> Measurement:
    """What a version served between two snapshots."""
    served = since(now, then)
    requests, errors, buckets = served.requests, served.errors, served.buckets
    p99 = quantile(0.99, bounds, buckets) if len(buckets) == len(bounds) else None
    return Measurement(
        requests=requests,
        errors=min(errors, requests),
        error_rate=(min(errors, requests) / requests) if requests else None,
        p99_latency_ms=None if p99 is None else round(p99 * 1000.0, 3),
    )
