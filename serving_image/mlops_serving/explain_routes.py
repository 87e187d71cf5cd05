"""``POST /v1/models/{name}:explain`` and ``POST /v2/models/{name}/explain``: why a version
answers what it answers (``explaining``), for the bodies of ``:predict`` and ``infer``.

Explaining costs hundreds of forward passes per instance, so it is kept apart from the
predictions: at most ``explain_max_instances`` instances per request (413 past it, naming the
limit), at most ``explain_concurrency`` explanations at once, each in a worker process of lower
CPU priority (``explain_workers``: a prediction never waits behind one, nor for the interpreter
lock), ONNX Runtime sessions of one thread there, and its own latency histogram.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.prediction_ids import PREDICTION_ID_HEADER, version_of_prediction
from mlops_serving.errors import InvalidInputError, PayloadTooLargeError
from mlops_serving.explain_workers import ExplainWorkers
from mlops_serving.inputs import Record, instances_to_records, v2_inputs_to_records
from mlops_serving.json_body import json_response
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.protocol_v1 import V1_BODY, parse_instances
from mlops_serving.protocol_v2 import V2_BODY
from mlops_serving.v2_infer import header_length_of, parse_infer

router = APIRouter(tags=["Explanations"])


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
    ) -> dict[str, Any]:
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
        self.metrics.explanations.labels(served.name, served.version).inc(len(explained))
        return {
            "model": served.name,
            "version": served.version,
            "runtime": served.artifact.runtime,
            "explanations": explained,
        }


def explanations_of(request: Request) -> Explanations:
    value = request.app.state.explanations
    assert isinstance(value, Explanations)
    return value


def version_asked(version: str | None, request: Request) -> str | None:
    """The version in the path, else the one that made the prediction whose id the request
    carries (``PREDICTION_ID_HEADER``), else None (the default version)."""
    if version is not None:
        return version
    prediction = request.headers.get(PREDICTION_ID_HEADER)
    return version_of_prediction(prediction) if prediction is not None else None


async def _v1(name: str, version: str | None, request: Request) -> Response:
    instances = parse_instances(await request.body())
    answer = await explanations_of(request).run(
        name,
        version_asked(version, request),
        lambda config: instances_to_records(config, instances),
    )
    return json_response(answer)


@router.post("/v1/models/{name}:explain", openapi_extra=V1_BODY)
async def explain_v1(name: str, request: Request) -> Response:
    return await _v1(name, None, request)


@router.post("/v1/models/{name}/versions/{version}:explain", openapi_extra=V1_BODY)
async def explain_v1_version(name: str, version: str, request: Request) -> Response:
    return await _v1(name, version, request)


async def _v2(name: str, version: str | None, request: Request) -> Response:
    call = parse_infer(await request.body(), header_length_of(request.scope["headers"]))
    answer = await explanations_of(request).run(
        name,
        version_asked(version, request),
        lambda config: v2_inputs_to_records(config, call.tensors),
    )
    return json_response(
        {"model_name": answer["model"], "model_version": answer["version"], "id": call.id, **answer}
    )


@router.post("/v2/models/{name}/explain", openapi_extra=V2_BODY)
async def explain_v2(name: str, request: Request) -> Response:
    return await _v2(name, None, request)


@router.post("/v2/models/{name}/versions/{version}/explain", openapi_extra=V2_BODY)
async def explain_v2_version(name: str, version: str, request: Request) -> Response:
    return await _v2(name, version, request)
