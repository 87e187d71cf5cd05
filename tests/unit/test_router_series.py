"""What the routers write is what the canary and A/B measurement read: the series names are
declared once (``mlops_core.router_series``) and both sides are checked against each other."""

import pytest
from prometheus_client import generate_latest

from mlops_operator.rollout.measure import parse_router_metrics
from mlops_serving.pool_router import PoolMetrics
from mlops_serving.router_metrics import RouterMetrics

pytestmark = pytest.mark.unit


def test_a_deployments_router_series_are_read_per_version() -> None:
    metrics = RouterMetrics()
    for status in (200, 200, 503):
        metrics.observe("1.0.0", status, 0.02)
    metrics.observe("1.1.0", 200, 0.3)
    totals = parse_router_metrics(generate_latest(metrics.registry).decode())
    stable, canary = totals.of("1.0.0"), totals.of("1.1.0")
    assert (stable.requests, stable.errors, canary.requests) == (3, 1, 1)
    assert stable.buckets[-1] == 3
    assert totals.bounds[-1] == float("inf")


def test_a_pool_routers_series_are_read_for_one_deployment_only() -> None:
    metrics = PoolMetrics()
    metrics.observe("fraud", "2.0.0", 200, 0.01)
    metrics.observe("fraud", "2.0.0", 500, 0.01)
    metrics.observe("churn", "2.0.0", 200, 0.01)
    text = generate_latest(metrics.registry).decode()
    fraud = parse_router_metrics(text, deployment="fraud").of("2.0.0")
    assert (fraud.requests, fraud.errors) == (2, 1)
    assert parse_router_metrics(text, deployment="churn").of("2.0.0").requests == 1
    # a pool router's text carries none of a Deployment's own router series
    assert parse_router_metrics(text).versions == {}
