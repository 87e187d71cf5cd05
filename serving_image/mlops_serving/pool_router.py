"""A pool's router: every pooled Deployment's traffic split, sent to servers holding the version.

The request's Host names the Deployment: its own Service selects the pool's router pods, so the
first label of the Host is the Deployment's name (a Host that names no route falls back to the
first route serving the model named in the path). The version is chosen as a Deployment's own
router chooses it (``Router.pick``: weights, sticky header, a version named in the path). The
servers placed to hold that version come first, in rotation, then every other ready server of the
pool, which loads the version on demand, so a lost copy costs a retry rather than a failed
request. A prediction path that names no version gets the chosen one written into it
(``/v1/models/m:predict`` → ``/v1/models/m/versions/v:predict``): a pool server holds many
versions of a model. Metrics carry the Deployment beside the version, for its canary gates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from mlops_core import router_series
from mlops_core.routing import (
    PoolRoute,
    PoolRouterConfig,
    RouterConfig,
    parse_pool_router_config,
    should_mirror,
)
from mlops_serving.batching import cancel_quietly
from mlops_serving.endpoint_slices import EndpointSliceWatch
from mlops_serving.http_front import Answer, Request, error
from mlops_serving.router_app import HOP_BY_HOP, PASSED_PREFIXES, Router
from mlops_serving.router_backends import BackendPool
from mlops_serving.router_config_source import ConfigSource
from mlops_serving.router_metrics import BUCKETS
from mlops_serving.settings import RouterSettings

log = logging.getLogger(__name__)

V1_PREDICT = re.compile(rb"^(/v1/models/[^/:?]+)(:predict(?:\?.*)?)$")
V2_INFER = re.compile(rb"^(/v2/models/[^/?]+)(/infer(?:\?.*)?)$")
MODEL_IN_PATH = re.compile(r"^/v[12]/models/([^/:?]+)")


def versioned_target(target: bytes, version: str) -> bytes:
    """``target`` with ``/versions/<version>`` written in when it is an unversioned prediction."""
    for pattern in (V1_PREDICT, V2_INFER):
        match = pattern.match(target)
        if match is not None:
            return match.group(1) + b"/versions/" + version.encode() + match.group(2)
    return target


def deployment_of(headers: dict[bytes, bytes]) -> str:
    """The first label of the Host header, without a port: the Deployment's Service name."""
    host = headers.get(b"host", b"").decode("latin-1")
    return host.split(":", 1)[0].split(".", 1)[0]


class PoolMetrics:
    """Requests and latency by Deployment and version (the pool's routers are shared)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            router_series.POOL_REQUESTS,
            "Requests answered, by Deployment, version served and HTTP status code.",
            ("deployment", "version", "code"),
            registry=self.registry,
        )
        self.duration = Histogram(
            router_series.POOL_DURATION,
            "Time from receiving a request to answering it, by Deployment and version.",
            ("deployment", "version"),
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, deployment: str, version: str, status: int, seconds: float) -> None:
        self.requests.labels(deployment, version, str(status)).inc()
        self.duration.labels(deployment, version).observe(seconds)


class PoolRouterApp:
    """``/metrics``, ``/healthz``, ``/readyz``; everything else goes to a pooled Deployment."""

    def __init__(self, settings: RouterSettings, watch: EndpointSliceWatch | None) -> None:
        self.settings = settings
        self.source: ConfigSource[PoolRouterConfig] = ConfigSource(
            settings.router_config_file, parse_pool_router_config
        )
        self.source.reload()
        self.watch = watch
        self.backends = BackendPool(watch)
        self.router = Router(settings, None, self.backends)
        self.metrics = PoolMetrics()
        self._poller: asyncio.Task[None] | None = None

    # ---- where a request goes --------------------------------------------------------------

    def route_of(self, config: PoolRouterConfig, request: Request) -> PoolRoute | None:
        found = config.route(deployment_of(dict(request.headers)))
        if found is not None:
            return found
        named = MODEL_IN_PATH.match(request.path)
        return config.route_for_model(named.group(1)) if named is not None else None

    def servers(
        self, config: PoolRouterConfig, routing: RouterConfig, version: str
    ) -> dict[str, str]:
        """Server name → address of every ready server of the pool."""
        if config.server_endpoints:
            return dict(config.server_endpoints)
        backend = routing.backend(version)
        if backend.service is not None and self.watch is not None:
            return self.watch.named_addresses(backend.service)
        return {}

    def endpoints(self, config: PoolRouterConfig, routing: RouterConfig, version: str) -> list[str]:
        """Servers to try: those placed to hold ``version`` first, then the others."""
        named = self.servers(config, routing, version)
        placed = [named[n] for n in config.servers_of(routing.model, version) if n in named]
        others = sorted(set(named.values()) - set(placed))
        pool = self.backends
        return pool.alive_first(pool.order(placed)) + pool.alive_first(pool.order(others))

    # ---- answering -------------------------------------------------------------------------

    async def proxy(self, request: Request) -> tuple[str, str | None, Answer]:
        config = self.source.config
        if config is None:
            return "", None, error(503, f"router has no valid config yet: {self.source.error}")
        path = request.path
        if not path.startswith(PASSED_PREFIXES):
            return "", None, error(404, f"the router passes /v1/, /v2/ and /mlops/, not {path}")
        route = self.route_of(config, request)
        if route is None:
            host = deployment_of(dict(request.headers))
            return "", None, error(404, f"pool {config.pool} serves no Deployment {host!r}")
        routing = route.routing
        headers = [(k, v) for k, v in request.headers if k not in HOP_BY_HOP]
        version = self.router.pick(routing, path, dict(request.headers), request.body)
        mirror_to = should_mirror(routing, draw=self.router.random(), chosen=version)
        if mirror_to is not None:
            self.router.mirror(
                routing,
                mirror_to,
                request.method,
                versioned_target(request.target, mirror_to),
                headers,
                request.body,
                endpoints=self.endpoints(config, routing, mirror_to),
            )
        answer = await self.router.forward(
            routing,
            version,
            request.method,
            versioned_target(request.target, version),
            headers,
            request.body,
            endpoints=self.endpoints(config, routing, version),
        )
        answer.headers.append((b"x-mlops-version", version.encode()))
        return route.deployment, version, answer

    async def answer(self, request: Request) -> Answer:
        started = time.perf_counter()
        path = request.path
        if path == "/metrics":
            body = generate_latest(self.metrics.registry) + generate_latest(
                self.router.metrics.registry
            )
            return Answer(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)
        if path == "/healthz":
            return Answer(200, [(b"content-type", b"application/json")], b'{"live":true}')
        if path == "/readyz":
            return self._ready()
        try:
            deployment, version, answer = await self.proxy(request)
        except Exception as exc:  # a bug must cost one request, not the connection
            log.exception("proxying %s failed", path)
            return error(500, f"router error: {type(exc).__name__}: {exc}")
        if version is not None:
            self.metrics.observe(deployment, version, answer.status, time.perf_counter() - started)
        return answer

    def _ready(self) -> Answer:
        config = self.source.config
        if config is None:
            return error(503, f"no valid pool router config: {self.source.error}")
        servers: set[str] = set()
        for route in config.routes:
            for backend in route.routing.backends:
                servers |= set(self.servers(config, route.routing, backend.version).values())
        ok = bool(servers) or not config.routes
        body: dict[str, Any] = {
            "ready": ok,
            "pool": config.pool,
            "routes": len(config.routes),
            "servers": len(servers),
            "configError": self.source.error,
        }
        return Answer(
            200 if ok else 503, [(b"content-type", b"application/json")], json.dumps(body).encode()
        )

    async def start(self) -> None:
        if self.watch is not None:
            self.watch.start()
        self._poller = asyncio.create_task(
            self.source.watch(self.settings.router_config_poll_seconds)
        )

    async def stop(self) -> None:
        await cancel_quietly(self._poller)
        if self.watch is not None:
            self.watch.stop()
        await self.router.client.close()


def build_pool_router_app(settings: RouterSettings) -> PoolRouterApp:
    watch = None
    if settings.router_namespace:
        watch = EndpointSliceWatch(settings.router_namespace, default_port=settings.backend_port)
    return PoolRouterApp(settings, watch)
