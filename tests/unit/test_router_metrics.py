"""The routers' per-version counters as A/B arms: parsed by the one router metrics parser."""

from __future__ import annotations

import pytest

from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.ab_counts import router_error_counts
from mlops_operator.adapters.router_metrics import RouterScrape
from mlops_operator.rollout.measure import parse_router_metrics

pytestmark = pytest.mark.unit

TEXT = """# HELP mlops_router_requests_total Requests answered, by version and HTTP status code.
# TYPE mlops_router_requests_total counter
mlops_router_requests_total{code="200",version="1.0.0"} 980.0
mlops_router_requests_total{code="503",version="1.0.0"} 20.0
mlops_router_requests_total{version="1.1.0",code="200"} 1000.0
mlops_router_requests_created{code="200",version="1.0.0"} 1.7e+09
mlops_router_request_duration_seconds_count{version="1.0.0"} 1000.0
"""


def test_requests_and_5xx_per_version_are_summed_over_the_routers_that_answered() -> None:
    scrape = RouterScrape(
        answers={
            "10.0.0.1:8080": parse_router_metrics(TEXT),
            "10.0.0.2:8080": parse_router_metrics(TEXT),
        },
        unreadable={"10.0.0.3:8080": "timed out"},
    )
    tallies = router_error_counts(scrape)
    assert tallies.counts == [ArmCounts("1.0.0", 2000, 40), ArmCounts("1.1.0", 2000, 0)]
    assert tallies.unreadable == ["10.0.0.3:8080: timed out"]


def test_a_canary_step_is_judged_on_every_router_or_none() -> None:
    whole = RouterScrape(answers={"10.0.0.1:8080": parse_router_metrics(TEXT)})
    totals, problem = whole.all_pods()
    assert problem is None
    assert totals is not None
    assert (totals.of("1.0.0").requests, totals.of("1.0.0").errors) == (1000, 20)
    partial = RouterScrape(
        answers={"10.0.0.1:8080": parse_router_metrics(TEXT)},
        unreadable={"10.0.0.3:8080": "timed out"},
    )
    assert partial.all_pods() == (None, "router 10.0.0.3:8080: timed out")
    assert RouterScrape().all_pods() == (None, "no ready router pod")
