"""The FastAPI application: routers, error mapping, metrics, docs and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Response

from mlops_operator import __version__
from mlops_operator.rest import drift, experiments, models, serving, training
from mlops_operator.rest.docs import install_docs
from mlops_operator.rest.errors import install_error_handlers
from mlops_operator.rest.metrics import MetricsMiddleware, RequestMetrics
from mlops_operator.rest.services import RestServices
from mlops_operator.rest.settings import HEALTH_PATH, METRICS_PATH
from mlops_operator.rest.views import Health

TITLE = "MLOps REST API"
DESCRIPTION = """The `/mlops/...` endpoints as reads and writes of the mlops.dev custom
resources (TrainingJob, Model, ModelVersion, Deployment, Experiment): whatever is done here is
visible and doable with kubectl and GitOps.

Send a Kubernetes bearer token (`kubectl create token SERVICEACCOUNT`). It is checked with a
TokenReview, and each action with a SubjectAccessReview for its verb and resource in the
namespace (`?namespace=`). No token: 401; not allowed: 403. Errors are
`{"status", "reason", "message"}`."""


def build_app(services: RestServices) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(services.settings.predict_timeout_seconds, connect=5.0)
        async with httpx.AsyncClient(timeout=timeout) as client:
            services.http = client
            yield
        services.http = None

    app = FastAPI(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    metrics = RequestMetrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_error_handlers(app)
    install_docs(app, title=TITLE)

    @app.get(HEALTH_PATH, tags=["health"], summary="Liveness and readiness")
    def health() -> Health:
        return Health(status="ok", version=__version__)

    @app.get(
        METRICS_PATH,
        tags=["health"],
        summary="Prometheus metrics of this API's requests",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        return metrics.exposition()

    # drift before models: /mlops/models/{modelId}/drift must not match {modelId}/{version}
    for module in (training, drift, models, serving, experiments):
        app.include_router(module.router)
    return app
