"""The traffic router: weighted (optionally sticky) split of one model's traffic by version.

Requests to ``/v1/``, ``/v2/`` and ``/mlops/`` go to a version chosen by
``mlops_core.routing.choose_version`` (a path that names a configured version goes to that
version), then to one of its ready endpoints; a connection failure is retried on another
endpoint of the same version. A version with no ready endpoint gives its share to the version
with the highest weight that has one. Mirror copies are sent in the background and their
answers dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlops_core.routing import RouterConfig, choose_version, should_mirror
from mlops_serving.batching import cancel_quietly
from mlops_serving.body_limit import BodyLimitMiddleware
from mlops_serving.endpoint_slices import EndpointSliceWatch
from mlops_serving.http_pool import BackendConnectError, BackendProtocolError, HttpPool
from mlops_serving.router_backends import BackendPool
from mlops_serving.router_config_source import ConfigSource
from mlops_serving.router_metrics import RouterMetrics
from mlops_serving.settings import RouterSettings

log = logging.getLogger(__name__)

PASSED_PREFIXES = ("/v1/", "/v2/", "/mlops/")
VERSION_IN_PATH = re.compile(r"/versions/([^/:]+)")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
MIRROR_CONCURRENCY = 32


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Router:
    def __init__(self, settings: RouterSettings, source: ConfigSource, pool: BackendPool) -> None:
        self.settings = settings
        self.source = source
        self.pool = pool
        self.metrics = RouterMetrics()
        self.client: HttpPool | None = None
        self._mirror_slots = asyncio.Semaphore(MIRROR_CONCURRENCY)
        self._mirror_tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random()  # noqa: S311 - a traffic split, not a secret

    def pick(self, config: RouterConfig, request: Request) -> str:
        named = VERSION_IN_PATH.search(request.url.path)
        if named is not None and any(b.version == named.group(1) for b in config.backends):
            return named.group(1)
        key = None
        if config.sticky_header is not None:
            key = request.headers.get(config.sticky_header)
        version = choose_version(config, draw=self._random.random(), sticky_key=key)
        if self.pool.endpoints(config, version):
            return version
        for backend in sorted(config.backends, key=lambda b: -b.weight):
            if backend.weight > 0 and self.pool.endpoints(config, backend.version):
                return backend.version
        return version

    async def forward(
        self, config: RouterConfig, version: str, request: Request, body: bytes
    ) -> Response:
        assert self.client is not None
        endpoints = self.pool.order(self.pool.endpoints(config, version))
        if not endpoints:
            return _error(503, f"no ready endpoints for {config.model} version {version}")
        headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP]
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        last_error = ""
        for attempt, endpoint in enumerate(endpoints[: self.settings.backend_attempts]):
            if attempt:
                self.metrics.retries.labels(version).inc()
            try:
                upstream = await asyncio.wait_for(
                    self.client.request(endpoint, request.method, target, headers, body),
                    self.settings.backend_timeout_seconds,
                )
            except (BackendConnectError, BackendProtocolError) as exc:
                self.pool.mark_dead(endpoint)
                last_error = str(exc)
                continue
            except TimeoutError:
                return _error(504, f"version {version} at {endpoint} did not answer in time")
            self.pool.mark_alive(endpoint)
            out_headers = {k: v for k, v in upstream.headers if k.lower() not in HOP_BY_HOP}
            out_headers["x-mlops-version"] = version
            return Response(upstream.body, status_code=upstream.status, headers=out_headers)
        return _error(502, f"every endpoint of version {version} failed ({last_error})")

    def mirror(self, config: RouterConfig, version: str, request: Request, body: bytes) -> None:
        if self._mirror_slots.locked():
            self.metrics.mirrored.labels(version, "dropped").inc()
            return

        async def send() -> None:
            async with self._mirror_slots:
                response = await self.forward(config, version, request, body)
            outcome = "ok" if response.status_code < 500 else "error"
            self.metrics.mirrored.labels(version, outcome).inc()

        task = asyncio.get_running_loop().create_task(send())
        self._mirror_tasks.add(task)
        task.add_done_callback(self._mirror_tasks.discard)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        config = self.source.config
        if config is None:
            return _error(503, f"router has no valid config yet: {self.source.error}")
        if not request.url.path.startswith(PASSED_PREFIXES):
            return _error(
                404, f"the router passes /v1/, /v2/ and /mlops/ paths, not {request.url.path}"
            )
        body = await request.body()
        version = self.pick(config, request)
        mirror_to = should_mirror(config, draw=self._random.random(), chosen=version)
        if mirror_to is not None:
            self.mirror(config, mirror_to, request, body)
        response = await self.forward(config, version, request, body)
        self.metrics.requests.labels(version, str(response.status_code)).inc()
        self.metrics.duration.labels(version).observe(time.perf_counter() - started)
        return response


def build_router_app(
    settings: RouterSettings, *, watch: EndpointSliceWatch | None = None
) -> Starlette:
    source = ConfigSource(settings.router_config_file)
    source.reload()
    if watch is None and settings.router_namespace:
        watch = EndpointSliceWatch(settings.router_namespace, default_port=settings.backend_port)
    router = Router(settings, source, BackendPool(watch))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        router.client = HttpPool(
            connect_timeout=2.0, max_idle_per_endpoint=settings.max_connections
        )
        if watch is not None:
            watch.start()
        poller = asyncio.create_task(source.watch(settings.router_config_poll_seconds))
        try:
            yield
        finally:
            await cancel_quietly(poller)
            if watch is not None:
                watch.stop()
            await router.client.close()

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(router.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"live": True})

    async def readyz(_: Request) -> Response:
        config = source.config
        if config is None:
            return _error(503, f"no valid router config: {source.error}")
        ready = {b.version: len(router.pool.endpoints(config, b.version)) for b in config.backends}
        status = 200 if any(ready[b.version] for b in config.backends if b.weight > 0) else 503
        body = {"ready": status == 200, "endpoints": ready, "configError": source.error}
        return JSONResponse(body, status_code=status)

    app = Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/{path:path}", router.handle, methods=["GET", "POST", "PUT", "DELETE"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.state.router = router
    return app
