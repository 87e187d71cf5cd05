"""The model server's FastAPI application: lifecycle, protocols, metrics and errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp

from mlops_core.storage import ObjectStore
from mlops_serving import __version__, explain_routes, protocol_mlops, protocol_v1, protocol_v2
from mlops_serving.api_docs import install_api_docs
from mlops_serving.batching import cancel_quietly
from mlops_serving.body_limit import BodyLimitMiddleware
from mlops_serving.errors import install_error_handlers
from mlops_serving.explain_workers import ExplainWorkers
from mlops_serving.fast_path import PredictFastPath
from mlops_serving.feedback import FeedbackBook
from mlops_serving.inference import Inference
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.pool_assignment import PoolAssignment
from mlops_serving.prediction_activity import PredictionActivity
from mlops_serving.server_front import ServerFront
from mlops_serving.settings import ServerSettings

log = logging.getLogger(__name__)


def refresh_gauges(repository: ModelRepository, metrics: ServerMetrics) -> None:
    """Drift scores and CPU, computed when scraped rather than per request."""
    metrics.sample_cpu()
    for served in repository.loaded():
        if served.performance is not None:
            _, estimate = served.performance.estimate()
            if estimate is not None:
                metrics.set_estimate(served.name, served.version, estimate)
        if served.drift is None or not served.drift.scorable:
            continue  # nothing to score yet: its reference statistics stay unread
        report = served.drift.report()
        if report.max_score is not None:
            metrics.drift.labels(served.name, served.version).set(report.max_score)
            metrics.drift_detected.labels(served.name, served.version).set(int(report.drifted))


async def _expire_loop(repository: ModelRepository, period: float) -> None:
    while True:
        await asyncio.sleep(period)
        repository.expire_idle()


def build_app(settings: ServerSettings, *, store: ObjectStore | None = None) -> FastAPI:
    """The server app; models are loaded in its lifespan, never at import."""
    metrics = ServerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.sample_cpu()  # the first sample only starts psutil's measurement
        # the event loop and the inference thread share the GIL: hand it over sooner than the
        # default 5 ms so that a long batch does not hold up request parsing
        sys.setswitchinterval(0.0005)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        repository = ModelRepository(settings, executor=executor, metrics=metrics, store=store)
        activity = PredictionActivity()  # the explanation workers pace by it
        app.state.inference = Inference(
            repository=repository,
            metrics=metrics,
            feedback=FeedbackBook(settings.feedback_capacity, window=settings.drift.window_size),
            activity=activity,
        )
        explain_workers = ExplainWorkers(
            processes=settings.explain_concurrency,
            niceness=settings.explain_niceness,
            idle_priority=settings.explain_idle_priority,
            cpu_share=settings.explain_cpu_share,
            idle_cpu_share=settings.explain_idle_cpu_share,
            activity=activity,
        )
        app.state.explanations = explain_routes.Explanations(
            repository=repository,
            metrics=metrics,
            workers=explain_workers,
            max_instances=settings.explain_max_instances,
            concurrency=asyncio.Semaphore(settings.explain_concurrency),
        )
        expiry = None
        if settings.model_cache_ttl > 0:
            period = max(0.05, min(settings.model_cache_ttl / 4, 30.0))
            expiry = asyncio.create_task(_expire_loop(repository, period))
        following = None
        if settings.pool_config_file and settings.pool_server_name:
            assignment = PoolAssignment(
                repository,
                config_file=settings.pool_config_file,
                server=settings.pool_server_name,
            )
            following = asyncio.create_task(assignment.follow())
        preload = asyncio.create_task(repository.preload())
        preload.add_done_callback(lambda _: gc.freeze())  # long-lived objects leave the GC's way
        try:
            yield
        finally:
            await cancel_quietly(expiry)
            await cancel_quietly(following)
            if not preload.done():
                preload.cancel()
            await repository.close()
            executor.shutdown(wait=True)
            await asyncio.to_thread(explain_workers.close)

    title = "mlops model server"
    app = FastAPI(
        title=title,
        version=__version__,
        description="KServe v1, Open Inference Protocol v2 and the /mlops API.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    install_api_docs(app, title=title)
    app.include_router(protocol_v1.router)
    app.include_router(protocol_v2.router)
    app.include_router(protocol_mlops.router)
    app.include_router(explain_routes.router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        inference: Inference = app.state.inference
        await asyncio.to_thread(refresh_gauges, inference.repository, metrics)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        return {"live": True}

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    return app


def build_server(settings: ServerSettings, *, store: ObjectStore | None = None) -> ASGIApp:
    """The app as an ASGI server would serve it: the direct v1 and v2 prediction and explain
    routes in front of the FastAPI app (which answers them the same way, and everything else)."""
    app = build_app(settings, store=store)
    predicting = PredictFastPath(
        app, inference=lambda: app.state.inference, max_bytes=settings.max_request_bytes
    )
    return _with_explain_path(app, predicting, settings)


def build_server_front(settings: ServerSettings) -> ServerFront:
    """The server as ``python -m mlops_serving serve`` runs it: predictions answered by its
    HTTP front, the rest (explanations on their direct route) by the app."""
    app = build_app(settings)
    return ServerFront(
        _with_explain_path(app, app, settings), inference=lambda: app.state.inference
    )


def _with_explain_path(app: FastAPI, inner: ASGIApp, settings: ServerSettings) -> ASGIApp:
    return explain_routes.ExplainFastPath(
        app,
        inner=inner,
        explanations=lambda: app.state.explanations,
        max_bytes=settings.max_request_bytes,
    )
