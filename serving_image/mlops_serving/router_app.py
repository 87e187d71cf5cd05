"""The traffic router: weighted (optionally sticky) split of one model's traffic by version.

Requests to ``/v1/``, ``/v2/`` and ``/mlops/`` go to a version chosen by
``mlops_core.routing.choose_version`` (a path that names a configured version goes to that
version), then to one of its ready endpoints; a connection failure is retried on another
endpoint of the same version. A version with no ready endpoint gives its share to the version
with the highest weight that has one. Mirror copies are sent in the background and their
answers dropped.

The router sits on every request's path, so it does as little per request as it can: its own
HTTP/1.1 front (``http_front``) and its own keep-alive client (``http_pool``), no framework.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlops_core.prediction_ids import FEEDBACK_PATH, PREDICTION_ID_HEADER, prediction_of_feedback
from mlops_core.routing import (
    VERSION_HEADER,
    RouterConfig,
    choose_version,
    requested_version,
    should_mirror,
)
from mlops_serving.batching import cancel_quietly
from mlops_serving.endpoint_slices import EndpointSliceWatch
from mlops_serving.http_front import Answer, Front, Headers, Request, error
from mlops_serving.http_pool import BackendConnectError, BackendProtocolError, HttpPool
from mlops_serving.router_backends import BackendPool
from mlops_serving.router_config_source import ConfigSource, router_config_source
from mlops_serving.router_metrics import RouterMetrics
from mlops_serving.settings import RouterSettings

log = logging.getLogger(__name__)

PASSED_PREFIXES = ("/v1/", "/v2/", "/mlops/")
VERSION_HEADER_BYTES = VERSION_HEADER.encode()
PREDICTION_ID_HEADER_BYTES = PREDICTION_ID_HEADER.encode()
FEEDBACK_TARGET = FEEDBACK_PATH.encode()
VERSION_IN_PATH = re.compile(r"/versions/([^/:]+)")
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
MIRROR_CONCURRENCY = 32


class Router:
    """Chooses a version and an endpoint for each request and forwards it."""

    def __init__(
        self,
        settings: RouterSettings,
        source: ConfigSource[RouterConfig] | None,
        pool: BackendPool,
    ) -> None:
        self.settings = settings
        self.source = source
        self.pool = pool
        self.metrics = RouterMetrics()
        self.client = HttpPool(connect_timeout=2.0, max_idle_per_endpoint=settings.max_connections)
        self._mirror_slots = asyncio.Semaphore(MIRROR_CONCURRENCY)
        self._mirror_tasks: set[asyncio.Task[None]] = set()
        self._random = random.Random()  # noqa: S311 - a traffic split, not a secret

    def random(self) -> float:
        """A uniform draw in [0, 1) for a split or a mirror decision."""
        return self._random.random()

    def pick(
        self, config: RouterConfig, path: str, headers: dict[bytes, bytes], body: bytes = b""
    ) -> str:
        """The version a request goes to: the one it names (by path, prediction id in a header
        or, for feedback, in its body, version header), else the split's."""
        in_path = VERSION_IN_PATH.search(path) if "/versions/" in path else None
        in_header = headers.get(VERSION_HEADER_BYTES)
        raw_prediction = headers.get(PREDICTION_ID_HEADER_BYTES)
        prediction = raw_prediction.decode("latin-1") if raw_prediction is not None else None
        if prediction is None and path == FEEDBACK_PATH:
            prediction = prediction_of_feedback(body)
        if in_path is not None or in_header is not None or prediction is not None:
            named = requested_version(
                config,
                in_path=in_path.group(1) if in_path is not None else None,
                in_header=in_header.decode("latin-1") if in_header is not None else None,
                prediction=prediction,
            )
            if named is not None:
                return named
        key = None
        if config.sticky_header is not None:
            raw = headers.get(config.sticky_header.lower().encode())
            key = raw.decode("latin-1") if raw is not None else None
        version = choose_version(config, draw=self._random.random(), sticky_key=key)
        if self.pool.endpoints(config, version):
            return version
        for backend in sorted(config.backends, key=lambda b: -b.weight):
            if backend.weight > 0 and self.pool.endpoints(config, backend.version):
                return backend.version
        return version

    async def forward(
        self,
        config: RouterConfig,
        version: str,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes,
        *,
        endpoints: list[str] | None = None,
    ) -> Answer:
        """Send the request to ``version``: to ``endpoints`` in that order when given (a pool's
        router orders them by placement), else round-robin over the version's endpoints.

        Feedback is for the one server that made the prediction (it keeps the record), which
        the prediction id does not name: an endpoint that answers 404 (not its prediction) is
        followed by the version's next, until one knows it or all have said no."""
        if endpoints is None:
            endpoints = self.pool.order(self.pool.endpoints(config, version))
        if not endpoints:
            return error(503, f"no ready endpoints for {config.model} version {version}")
        seeking = target.split(b"?", 1)[0] == FEEDBACK_TARGET
        tried = endpoints if seeking else endpoints[: self.settings.backend_attempts]
        unknown: Answer | None = None
        last_error, failed = "", False
        loop = asyncio.get_running_loop()
        for endpoint in tried:
            if failed:  # the one before failed: this is a retry
                self.metrics.retries.labels(version).inc()
            failed = True
            deadline = loop.time() + self.settings.backend_timeout_seconds
            try:
                upstream = await self.client.request(
                    endpoint, method, target, headers, body, deadline=deadline
                )
            except (BackendConnectError, BackendProtocolError) as exc:
                self.metrics.endpoint_failures.labels(version, endpoint).inc()
                self.pool.mark_dead(endpoint)
                last_error = str(exc)
                continue
            except TimeoutError:
                return error(504, f"version {version} at {endpoint} did not answer in time")
            self.pool.mark_alive(endpoint)
            kept = [(k, v) for k, v in upstream.headers if k not in HOP_BY_HOP]
            answer = Answer(upstream.status, kept, upstream.body)
            if seeking and upstream.status == 404:
                unknown, failed = answer, False
                continue
            return answer
        if unknown is not None:
            return unknown
        return error(502, f"every endpoint of version {version} failed ({last_error})")

    def mirror(
        self,
        config: RouterConfig,
        version: str,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes,
        *,
        endpoints: list[str] | None = None,
    ) -> None:
        if self._mirror_slots.locked() or not self.pool.endpoints(config, version):
            # best effort: no slot free, or no ready endpoint of the mirror yet (its server is
            # starting, or its EndpointSlice has not reached the router): the copy is not sent
            self.metrics.mirrored.labels(version, "dropped").inc()
            return

        async def send() -> None:
            async with self._mirror_slots:
                answer = await self.forward(
                    config, version, method, target, headers, body, endpoints=endpoints
                )
            outcome = "ok" if answer.status < 500 else "error"
            self.metrics.mirrored.labels(version, outcome).inc()

        task = asyncio.get_running_loop().create_task(send())
        self._mirror_tasks.add(task)
        task.add_done_callback(self._mirror_tasks.discard)

    async def proxy(self, request: Request) -> tuple[str | None, Answer]:
        source = self.source
        config = source.config if source is not None else None
        if source is None or config is None:
            reason = source.error if source is not None else "none given"
            return None, error(503, f"router has no valid config yet: {reason}")
        path = request.path
        if not path.startswith(PASSED_PREFIXES):
            return None, error(404, f"the router passes /v1/, /v2/ and /mlops/ paths, not {path}")
        headers = [(k, v) for k, v in request.headers if k not in HOP_BY_HOP]
        version = self.pick(config, path, dict(request.headers), request.body)
        method, target, body = request.method, request.target, request.body
        mirror_to = should_mirror(config, draw=self._random.random(), chosen=version)
        if mirror_to is not None:
            self.mirror(config, mirror_to, method, target, headers, body)
        answer = await self.forward(config, version, method, target, headers, body)
        answer.headers.append((VERSION_HEADER_BYTES, version.encode()))
        return version, answer


class ProxyApp(Front, Protocol):
    """What the router's HTTP front serves: a Deployment's router or a pool's."""

    settings: RouterSettings


class RouterApp:
    """``/metrics``, ``/healthz``, ``/readyz``; everything else is proxied."""

    def __init__(self, settings: RouterSettings, watch: EndpointSliceWatch | None) -> None:
        self.settings = settings
        self.source = router_config_source(settings.router_config_file)
        self.source.reload()
        self.watch = watch
        self.router = Router(settings, self.source, BackendPool(watch))
        self._poller: asyncio.Task[None] | None = None

    async def answer(self, request: Request) -> Answer:
        started = time.perf_counter()
        path = request.path
        if path == "/metrics":
            body = generate_latest(self.router.metrics.registry)
            return Answer(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)
        if path == "/healthz":
            return Answer(200, [(b"content-type", b"application/json")], b'{"live":true}')
        if path == "/readyz":
            return self._ready()
        try:
            version, answer = await self.router.proxy(request)
        except Exception as exc:  # a bug must cost one request, not the connection
            log.exception("proxying %s failed", path)
            return error(500, f"router error: {type(exc).__name__}: {exc}")
        if version is not None:
            self.router.metrics.observe(version, answer.status, time.perf_counter() - started)
        return answer

    def _ready(self) -> Answer:
        config = self.source.config
        if config is None:
            return error(503, f"no valid router config: {self.source.error}")
        pool = self.router.pool
        ready = {b.version: len(pool.endpoints(config, b.version)) for b in config.backends}
        ok = any(ready[b.version] for b in config.backends if b.weight > 0)
        weights = {b.version: b.weight for b in config.backends}
        body: dict[str, Any] = {
            "ready": ok,
            "endpoints": ready,
            "weights": weights,
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


def build_router_app(
    settings: RouterSettings, *, watch: EndpointSliceWatch | None = None
) -> RouterApp:
    if watch is None and settings.router_namespace:
        watch = EndpointSliceWatch(settings.router_namespace, default_port=settings.backend_port)
    return RouterApp(settings, watch)
