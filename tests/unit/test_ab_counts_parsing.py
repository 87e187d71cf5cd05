"""The routers' per-version counters, parsed from Prometheus text."""

from __future__ import annotations

import pytest

from mlops_operator.adapters.ab_counts import parse_router_requests

pytestmark = pytest.mark.unit

TEXT = """# HELP mlops_router_requests_total Requests answered, by version and HTTP status code.
# TYPE mlops_router_requests_total counter
mlops_router_requests_total{code="200",version="1.0.0"} 980.0
mlops_router_requests_total{code="503",version="1.0.0"} 20.0
mlops_router_requests_total{version="1.1.0",code="200"} 1000.0
mlops_router_requests_created{code="200",version="1.0.0"} 1.7e+09
mlops_router_request_duration_seconds_count{version="1.0.0"} 1000.0
"""


def test_requests_per_version_and_code_are_read_and_nothing_else() -> None:
    assert parse_router_requests(TEXT) == [
        ("1.0.0", 200, 980),
        ("1.0.0", 503, 20),
        ("1.1.0", 200, 1000),
    ]
