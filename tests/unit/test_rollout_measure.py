"""Router metrics → per-version totals → per-step measurements with p99 from buckets."""

from __future__ import annotations

import pytest

from mlops_operator.api.deployment_status import CounterSnapshot
from mlops_operator.rollout.measure import (
    MetricsFormatError,
    measure,
    parse_router_metrics,
    quantile,
    sum_totals,
)

pytestmark = pytest.mark.unit

BOUNDS = [0.01, 0.1, 1.0, float("inf")]


def scrape(version: str, ok: int, failed: int, buckets: list[int]) -> str:
    lines = [
        "# HELP mlops_router_requests_total Requests answered.",
        "# TYPE mlops_router_requests_total counter",
        f'mlops_router_requests_total{{version="{version}",code="200"}} {ok}.0',
        f'mlops_router_requests_total{{version="{version}",code="404"}} 1.0',
        f'mlops_router_requests_total{{version="{version}",code="503"}} {failed}.0',
        f'mlops_router_requests_created{{version="{version}",code="200"}} 1.7e9',
    ]
    for bound, count in zip(["0.01", "0.1", "1.0", "+Inf"], buckets, strict=True):
        lines.append(
            f'mlops_router_request_duration_seconds_bucket{{version="{version}",le="{bound}"}} '
            f"{count}.0"
        )
    lines.append(f'mlops_router_request_duration_seconds_count{{version="{version}"}} 9.0')
    lines.append('mlops_router_backend_retries_total{version="1.0.0"} 2.0')
    return "\n".join(lines) + "\n"


def test_parses_requests_5xx_errors_and_buckets_per_version() -> None:
    totals = parse_router_metrics(scrape("1.0.0", 90, 10, [50, 90, 100, 101]))
    snap = totals.versions["1.0.0"]
    assert (snap.requests, snap.errors) == (101, 10)  # 404 is the caller's error, not the model's
    assert snap.buckets == [50, 90, 100, 101]
    assert totals.bounds == BOUNDS


def test_router_pods_are_summed() -> None:
    total = sum_totals(
        [
            parse_router_metrics(scrape("1.0.0", 10, 0, [10, 11, 11, 11])),
            parse_router_metrics(scrape("1.0.0", 20, 1, [5, 22, 22, 22])),
            parse_router_metrics(scrape("1.1.0", 5, 0, [6, 6, 6, 6])),
        ]
    )
    assert total.versions["1.0.0"].requests == 33
    assert total.versions["1.0.0"].buckets == [15, 33, 33, 33]
    assert total.of("9.9.9").requests == 0


def test_step_deltas_not_totals_since_start() -> None:
    then = CounterSnapshot(version="v", requests=100, errors=5, buckets=[90, 100, 100, 100])
    now = CounterSnapshot(version="v", requests=200, errors=5, buckets=[90, 100, 200, 200])
    measured = measure(now, then, BOUNDS)
    assert (measured.requests, measured.errors, measured.error_rate) == (100, 0, 0.0)
    # all 100 of the step's requests took between 0.1 s and 1 s
    assert measured.p99_latency_ms == pytest.approx(991.0)


def test_a_restarted_router_counts_from_zero() -> None:
    then = CounterSnapshot(version="v", requests=500, errors=0, buckets=[500, 500, 500, 500])
    now = CounterSnapshot(version="v", requests=40, errors=4, buckets=[40, 40, 40, 40])
    measured = measure(now, then, BOUNDS)
    assert (measured.requests, measured.errors) == (40, 4)
    assert measured.error_rate == pytest.approx(0.1)


def test_quantile_interpolates_like_prometheus() -> None:
    assert quantile(0.99, BOUNDS, [0, 0, 0, 0]) is None
    assert quantile(0.5, BOUNDS, [100, 100, 100, 100]) == pytest.approx(0.005)
    assert quantile(0.99, BOUNDS, [0, 0, 0, 10]) == 1.0  # beyond the last finite bound


def test_garbage_is_an_error() -> None:
    with pytest.raises(MetricsFormatError):
        parse_router_metrics("{oops\n")
    with pytest.raises(MetricsFormatError):
        parse_router_metrics('mlops_router_requests_total{version="v",code="200"} lots\n')
