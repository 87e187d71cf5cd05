"""The original service's API: ``/mlops/predict``, batches, model listing and drift."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.drift_report import FeatureDriftScore, ModelDriftReport
from mlops_core.performance_estimate import Estimate
from mlops_core.performance_report import (
    TEST_ACCURACY,
    IntervalEstimate,
    ModelPerformanceReport,
)
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
    return ModelDriftReport(
        model=served.name,
        version=served.version,
        method=report.method,
        threshold=report.threshold,
        window_size=report.window_size,
        drift_detected=report.drifted,
        max_score=report.max_score,
        reference=report.reference,
        features=[
            FeatureDriftScore(
                name=f.name, kind=f.kind, score=f.score, samples=f.samples, drifted=f.drifted
            )
            for f in report.features
        ],
    ).to_json_dict()


def _interval(estimate: Estimate | None) -> IntervalEstimate | None:
    if estimate is None:
        return None
    return IntervalEstimate(value=estimate.value, lower=estimate.lower, upper=estimate.upper)


@router.get("/mlops/models/{name}/performance")
async def performance(
    name: str, request: Request, version: str | None = Query(default=None, max_length=64)
) -> dict[str, Any]:
    """The estimated accuracy (and macro F1) of the last ``windowSize`` predictions, and the
    realized accuracy of the last ``windowSize`` labelled ones."""
    inference = inference_of(request)
    served = await inference.repository.get(name, version)
    drift = served.drift
    if drift is None:
        raise ModelUnavailableError("monitoring is off (DRIFT_DETECTION_ENABLED=false)")
    monitor = served.performance
    samples, estimate = 0, None
    if monitor is not None:
        samples, estimate = await asyncio.to_thread(monitor.estimate)
    realized = inference.feedback.recent_accuracy(served.name, served.version)
    return ModelPerformanceReport(
        model=served.name,
        version=served.version,
        window_size=drift.window_size,
        calibrated=served.artifact.calibration is not None,
        samples=samples,
        accuracy=_interval(estimate.accuracy if estimate else None),
        macro_f1=_interval(estimate.macro_f1 if estimate else None),
        test_accuracy=served.artifact.parts.metrics.test.get(TEST_ACCURACY),
        realized_accuracy=realized.accuracy,
        realized_samples=realized.samples,
    ).to_json_dict()


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
