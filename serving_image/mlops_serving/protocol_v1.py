"""KServe v1 protocol: model status, ``:predict``, and feedback for online accuracy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.prediction_ids import FEEDBACK_PATH, PREDICTION_ID_MAX
from mlops_core.wire import WireModel
from mlops_serving.errors import InvalidInputError, ModelNotFoundError
from mlops_serving.feedback import UnknownPredictionError
from mlops_serving.inference import Inference
from mlops_serving.inputs import MAX_INSTANCES, instances_to_records
from mlops_serving.json_body import decode_json, decode_model, json_response, request_schema

router = APIRouter(tags=["KServe v1"])


class V1PredictRequest(BaseModel):
    """``{"instances": [...]}``: objects of columns, lists of feature values, or texts."""

    model_config = ConfigDict(extra="allow")

    instances: list[Any] = Field(max_length=MAX_INSTANCES)


class FeedbackRequest(WireModel):
    """The true label of an earlier prediction."""

    prediction_id: str = Field(
        min_length=1, max_length=PREDICTION_ID_MAX, description="From the response."
    )
    true_label: str | int | bool = Field(description="The label the prediction should have had.")


def inference_of(request: Request) -> Inference:
    value = request.app.state.inference
    assert isinstance(value, Inference)
    return value


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, list[str]]:
    return {"models": await inference_of(request).repository.model_names()}


@router.get("/v1/models/{name}")
async def model_status(name: str, request: Request) -> dict[str, Any]:
    repo = inference_of(request).repository
    _, version = await repo.resolve(name, None)
    return {"name": name, "version": version, "ready": repo.is_loaded(name, version)}


V1_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": V1PredictRequest.model_json_schema()}},
    }
}


def parse_instances(raw: bytes) -> list[Any]:
    """``instances`` of a v1 body, parsed without a model per request (the hot path)."""
    body = decode_json(raw)
    if not isinstance(body, dict) or "instances" not in body:
        raise InvalidInputError('invalid request: send {"instances": [...]}')
    instances = body["instances"]
    if not isinstance(instances, list):
        raise InvalidInputError("invalid request: instances must be a list")
    return instances


async def v1_predict(
    inference: Inference, name: str, version: str | None, raw: bytes
) -> dict[str, Any]:
    """The answer to a v1 ``:predict`` body (ServingError when it cannot be answered)."""
    instances = parse_instances(raw)
    result = await inference.run(
        name, version, lambda config: instances_to_records(config, instances)
    )
    return {
        "predictions": [p.label for p in result.predictions],
        "probabilities": [p.probabilities for p in result.predictions],
        "predictionIds": result.prediction_ids,
        "model": result.model,
        "version": result.version,
    }


async def _predict(name: str, version: str | None, request: Request) -> Response:
    answer = await v1_predict(inference_of(request), name, version, await request.body())
    return json_response(answer)


@router.post("/v1/models/{name}:predict", openapi_extra=V1_BODY)
async def predict(name: str, request: Request) -> Response:
    return await _predict(name, None, request)


@router.post("/v1/models/{name}/versions/{version}:predict", openapi_extra=V1_BODY)
async def predict_version(name: str, version: str, request: Request) -> Response:
    return await _predict(name, version, request)


@router.post(FEEDBACK_PATH, openapi_extra=request_schema(FeedbackRequest))
async def feedback(request: Request) -> dict[str, Any]:
    body = decode_model(await request.body(), FeedbackRequest)
    inference = inference_of(request)
    label = (
        str(body.true_label).lower() if isinstance(body.true_label, bool) else str(body.true_label)
    )
    try:
        correct, acc = inference.feedback.feedback(body.prediction_id, label)
    except UnknownPredictionError:
        raise ModelNotFoundError(
            f"prediction id {body.prediction_id!r} is unknown, already has feedback, or aged out"
        ) from None
    inference.metrics.feedback.labels(acc.model, acc.version).inc()
    if correct:
        inference.metrics.feedback_correct.labels(acc.model, acc.version).inc()
    if acc.accuracy is not None:
        inference.metrics.online_accuracy.labels(acc.model, acc.version).set(acc.accuracy)
    return {
        "model": acc.model,
        "version": acc.version,
        "correct": correct,
        "accuracy": acc.accuracy,
        "samples": acc.samples,
    }
