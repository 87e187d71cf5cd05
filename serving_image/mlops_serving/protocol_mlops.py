"""The original service's API: ``/mlops/predict``, batches, model listing and drift."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.wire import WireModel
from mlops_serving.errors import ModelUnavailableError, ServingError
from mlops_serving.inference import InferenceResult
from mlops_serving.inputs import Record, text_record
from mlops_serving.json_body import decode_model, json_response, request_schema
from mlops_serving.protocol_v1 import inference_of
from mlops_serving.tensor_values import check_record_numbers

router = APIRouter(tags=["mlops"])
MAX_BATCH_REQUESTS = 1000


class MlopsPredictRequest(WireModel):
    """One prediction: ``modelId`` (``name`` or ``name:version``) and its input."""

    model_id: str = Field(min_length=1, max_length=300, description="'name' or 'name:version'.")
    version: str | None = Field(default=None, max_length=64, description="Overrides modelId's.")
    input: dict[str, Any] = Field(
        description="Feature columns, or description and context for a text model."
    )


class MlopsBatchRequest(WireModel):
    requests: list[MlopsPredictRequest] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)


def _record(config: ArtifactConfig, data: dict[str, Any]) -> list[Record]:
    if config.task == "text":
        return [text_record(config, data)]
    record = dict(data)
    check_record_numbers(record, "input")
    return [record]


def _model_id(body: MlopsPredictRequest) -> tuple[str, str | None]:
    name, _, version = body.model_id.partition(":")
    return name, body.version or version or None


def _answer(result: InferenceResult) -> dict[str, Any]:
    prediction = result.predictions[0]
    return {
        "predictionId": result.prediction_ids[0],
        "modelId": result.model,
        "version": result.version,
        "prediction": prediction.label,
        "confidence": prediction.confidence,
        "probabilities": dict(zip(result.class_labels, prediction.probabilities, strict=True)),
        "latencyMs": round(result.latency_s * 1000, 3),
    }


@router.post("/mlops/predict", openapi_extra=request_schema(MlopsPredictRequest))
async def predict(request: Request) -> Response:
    body = decode_model(await request.body(), MlopsPredictRequest)
    name, version = _model_id(body)
    result = await inference_of(request).run(name, version, lambda c: _record(c, body.input))
    return json_response(_answer(result))


@router.post("/mlops/predict/batch", openapi_extra=request_schema(MlopsBatchRequest))
async def predict_batch(request: Request) -> Response:
    body = decode_model(await request.body(), MlopsBatchRequest)
    inference = inference_of(request)

    async def one(item: MlopsPredictRequest) -> dict[str, Any]:
        name, version = _model_id(item)
        return _answer(await inference.run(name, version, lambda c: _record(c, item.input)))

    outcomes = await asyncio.gather(*(one(r) for r in body.requests), return_exceptions=True)
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ServingError):
            raise type(outcome)(f"requests[{index}]: {outcome}") from outcome
        if isinstance(outcome, BaseException):
            raise outcome
    return json_response({"responses": outcomes})


@router.get("/mlops/models")
async def models(request: Request) -> dict[str, Any]:
    repo = inference_of(request).repository
    names = await repo.model_names()
    listed = []
    for name in names:
        versions = await repo.versions(name)
        listed.append(
            {
                "name": name,
                "versions": versions,
                "loaded": [v for v in versions if repo.is_loaded(name, v)],
            }
        )
    return {"models": listed}


@router.get("/mlops/models/{name}/drift")
async def drift(
    name: str, request: Request, version: str | None = Query(default=None, max_length=64)
) -> dict[str, Any]:
    repo = inference_of(request).repository
    served = await repo.get(name, version)
    report = await served.drift_report()
    if report is None:
        raise ModelUnavailableError("drift detection is off (DRIFT_DETECTION_ENABLED=false)")
    return {
        "model": served.name,
        "version": served.version,
        "method": report.method,
        "threshold": report.threshold,
        "windowSize": report.window_size,
        "driftDetected": report.drifted,
        "maxScore": report.max_score,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                "score": f.score,
                "samples": f.samples,
                "drifted": f.drifted,
            }
            for f in report.features
        ],
    }


@router.get("/mlops/models/{name}/accuracy")
async def accuracy(name: str, request: Request) -> dict[str, Any]:
    inference = inference_of(request)
    await inference.repository.resolve(name, None)
    return {
        "model": name,
        "versions": [
            {"version": a.version, "accuracy": a.accuracy, "samples": a.samples}
            for a in inference.feedback.accuracy(name)
        ],
    }
