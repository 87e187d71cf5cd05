"""``POST /v1/models/{name}:explain`` and ``POST /v2/models/{name}/explain``: why a version
answers what it answers (``explaining``), for the bodies of ``:predict`` and ``infer``.

Explaining costs hundreds of forward passes per instance, so it is kept apart from the
predictions: at most ``explain_max_instances`` instances per request (413 past it, naming the
limit), at most ``explain_concurrency`` explanations at once, each in a worker process of lower
CPU priority (``explain_workers``: a prediction never waits behind one, nor for the interpreter
lock), ONNX Runtime sessions of one thread there, and its own latency histogram.

What an explanation costs the server's event loop, which the predictions share, is kept small:
the routes are answered ahead of the framework (``ExplainFastPath``, like the prediction
routes; the FastAPI routes answer the same way and document them), and the worker's JSON is put
into the answer as it came, never decoded and encoded again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.prediction_ids import PREDICTION_ID_HEADER, version_of_prediction
from mlops_serving.body_limit import read_body
from mlops_serving.errors import InvalidInputError, PayloadTooLargeError, ServingError
from mlops_serving.explain_workers import Explained, ExplainWorkers
from mlops_serving.http_front import Headers
from mlops_serving.inputs import Record, instances_to_records, v2_inputs_to_records
from mlops_serving.json_body import JSON_CONTENT_TYPE, encode_json
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.protocol_v1 import V1_BODY, parse_instances
from mlops_serving.protocol_v2 import V2_BODY
from mlops_serving.v2_infer import header_length_of, parse_infer

log = logging.getLogger(__name__)

router = APIRouter(tags=["Explanations"])

V1_EXPLAIN = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+))?:explain$")
V2_EXPLAIN = re.compile(r"^/v2/models/([^/:]+)(?:/versions/([^/:]+))?/explain$")
_PREDICTION_ID = PREDICTION_ID_HEADER.encode()


def with_explanations(head: dict[str, Any], explanations: bytes) -> bytes:
    """The answer: ``head``'s fields, then ``explanations``, JSON already."""
    return encode_json(head)[:-1] + b',"explanations":' + explanations + b"}"


@dataclass
class Explanations:
    """What the explain routes need: the versions, the worker processes, the limits."""

    repository: ModelRepository
    metrics: ServerMetrics
    workers: ExplainWorkers
    max_instances: int
    concurrency: asyncio.Semaphore

    async def run(
        self, name: str, version: str | None, to_records: Callable[[ArtifactConfig], list[Record]]
    ) -> tuple[dict[str, Any], Explained]:
        """The answer's fields (model, version, runtime) and the worker's explanations."""
        started = time.perf_counter()
        async with self.repository.use(name, version) as served:
            records = to_records(served.artifact.config)
            if len(records) > self.max_instances:
                raise PayloadTooLargeError(
                    f"{len(records)} instances to explain, more than the limit of "
                    f"{self.max_instances} per request (EXPLAIN_MAX_INSTANCES): send fewer"
                )
            if not records:
                raise InvalidInputError("nothing to explain: send at least one instance")
            async with self.concurrency:
                explained = await self.workers.explain(
                    model=f"{served.name} {served.version}",
                    uri=served.artifact.parts.uri,
                    digest=served.artifact.digest,
                    runtime=served.artifact.runtime,
                    records=records,
                )
        elapsed = time.perf_counter() - started
        self.metrics.explain_latency.labels(served.name, served.version).observe(elapsed)
        self.metrics.explanations.labels(served.name, served.version).inc(explained.count)
        head = {"model": served.name, "version": served.version, "runtime": served.artifact.runtime}
        return head, explained

    async def answer(
        self, *, v2: bool, name: str, version: str | None, headers: Headers, raw: bytes
    ) -> bytes:
        """The JSON answer to a v1 ``:explain`` or v2 ``explain`` body (ServingError when it
        cannot be answered). Without a version in the path, the version is the one that made
        the prediction whose id the request carries (``PREDICTION_ID_HEADER``), else the
        default one."""
        if version is None:
            for key, value in headers:
                if key == _PREDICTION_ID:
                    version = version_of_prediction(value.decode("latin-1"))
        if not v2:
            instances = parse_instances(raw)
            head, explained = await self.run(
                name, version, lambda config: instances_to_records(config, instances)
            )
            return with_explanations(head, explained.json)
        call = parse_infer(raw, header_length_of(headers))
        head, explained = await self.run(
            name, version, lambda config: v2_inputs_to_records(config, call.tensors)
        )
        ids = {"model_name": head["model"], "model_version": head["version"], "id": call.id}
        return with_explanations({**ids, **head}, explained.json)


class ExplainFastPath:
    """The explain routes answered ahead of FastAPI, as ``fast_path`` answers the prediction
    routes: the same answers as the FastAPI routes below, without the framework's per-request
    routing and middleware on the event loop the predictions share. The body limit is enforced
    here (413). Every other request goes on to ``inner`` (the prediction routes, then ``app``,
    the FastAPI app, whose lifespan and state these answers use)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        inner: ASGIApp,
        explanations: Callable[[], Explanations],
        max_bytes: int,
    ) -> None:
        self.app = app
        self.inner = inner
        self.explanations = explanations
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path.endswith("explain"):  # a prediction pays this test only
                match = V1_EXPLAIN.match(path) or V2_EXPLAIN.match(path)
        if match is None:
            await self.inner(scope, receive, send)
            return
        status = 200
        try:
            raw = await read_body(scope, receive, self.max_bytes)
            if raw is None:
                return
            body = await self.explanations().answer(
                v2=match.re is V2_EXPLAIN,
                name=match.group(1),
                version=match.group(2),
                headers=scope["headers"],
                raw=raw,
            )
        except ServingError as exc:
            status = exc.status
            body = encode_json({"error": str(exc)})
            if status >= 500:
                log.warning("%s: %s", type(exc).__name__, exc)
        except Exception as exc:  # a bug costs one request a 500 in the usual shape, not a page
            log.exception("answering %s failed", scope["path"])
            status = 500
            body = encode_json({"error": f"internal error: {type(exc).__name__}"})
        headers = [(b"content-type", JSON_CONTENT_TYPE), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def explanations_of(request: Request) -> Explanations:
    value = request.app.state.explanations
    assert isinstance(value, Explanations)
    return value


async def _answer(request: Request, *, v2: bool, name: str, version: str | None) -> Response:
    body = await explanations_of(request).answer(
        v2=v2,
        name=name,
        version=version,
        headers=request.scope["headers"],
        raw=await request.body(),
    )
    return Response(body, media_type="application/json")


@router.post("/v1/models/{name}:explain", openapi_extra=V1_BODY)
async def explain_v1(name: str, request: Request) -> Response:
    return await _answer(request, v2=False, name=name, version=None)


@router.post("/v1/models/{name}/versions/{version}:explain", openapi_extra=V1_BODY)
async def explain_v1_version(name: str, version: str, request: Request) -> Response:
    return await _answer(request, v2=False, name=name, version=version)


@router.post("/v2/models/{name}/explain", openapi_extra=V2_BODY)
async def explain_v2(name: str, request: Request) -> Response:
    return await _answer(request, v2=True, name=name, version=None)


@router.post("/v2/models/{name}/versions/{version}/explain", openapi_extra=V2_BODY)
async def explain_v2_version(name: str, version: str, request: Request) -> Response:
    return await _answer(request, v2=True, name=name, version=version)
