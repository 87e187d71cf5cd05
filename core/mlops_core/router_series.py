"""The routers' per-version series: written by the routers (``mlops_serving``), read by the
operator's canary and A/B measurement (``mlops_operator.rollout.measure``). Declared once here.

A Deployment's own router labels them by ``version`` and ``code``; a pool's routers serve many
Deployments and add a ``deployment`` label to the same series under their own names.
"""

from __future__ import annotations

from typing import Final

#: requests answered, by version served and HTTP status code (a counter)
REQUESTS: Final = "mlops_router_requests_total"
#: time from receiving a request to answering it, by version (a histogram)
DURATION: Final = "mlops_router_request_duration_seconds"
#: a pool router's: the same series with a ``deployment`` label
POOL_REQUESTS: Final = "mlops_pool_router_requests_total"
POOL_DURATION: Final = "mlops_pool_router_request_duration_seconds"


def buckets_of(histogram: str) -> str:
    """The series of a histogram's cumulative buckets, as the Prometheus text format names it."""
    return f"{histogram}_bucket"
