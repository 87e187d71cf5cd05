"""Per-version metrics of the router, for canary analysis (labels: version, code)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from mlops_core import router_series

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RouterMetrics:
    def __init__(self) -> None:
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            router_series.REQUESTS,
            "Requests answered, by version served and HTTP status code.",
            ("version", "code"),
            registry=r,
        )
        self.duration = Histogram(
            router_series.DURATION,
            "Time from receiving a request to answering it, by version.",
            ("version",),
            buckets=BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "mlops_router_backend_retries_total",
            "Requests retried on another endpoint after a connection failure.",
            ("version",),
            registry=r,
        )
        self.endpoint_failures = Counter(
            "mlops_router_endpoint_failures_total",
            "Attempts on an endpoint that could not connect or lost the connection, by "
            "endpoint (each sets the endpoint aside for a few seconds).",
            ("version", "endpoint"),
            registry=r,
        )
        self.mirrored = Counter(
            "mlops_router_mirror_requests_total",
            "Shadow copies sent (outcome: ok, error, dropped).",
            ("version", "outcome"),
            registry=r,
        )

    def observe(self, version: str, status: int, seconds: float) -> None:
        """Count one answered request (label children cached: this runs per request)."""
        key = (version, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(version, str(status)), self.duration.labels(version))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
