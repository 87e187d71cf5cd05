"""Open Inference Protocol (KServe v2): health, model metadata and readiness, typed ``infer``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.artifact_config import ArtifactConfig
from mlops_serving import __version__
from mlops_serving.json_body import request_schema
from mlops_serving.protocol_v1 import inference_of
from mlops_serving.v2_infer import header_length_of, v2_infer

router = APIRouter(tags=["Open Inference Protocol v2"])


class TensorInput(BaseModel):
    """A tensor: ``data`` (flat or nested, row-major), or ``parameters.binary_data_size`` bytes
    of the binary data that follows the JSON header (binary tensor data extension)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    shape: list[int] = Field(min_length=1, max_length=8)
    datatype: str = Field(min_length=1, max_length=16)
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """The request's schema (documentation; the route parses the body itself)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=128)
    parameters: dict[str, Any] | None = None
    inputs: list[TensorInput] = Field(min_length=1, max_length=512)
    outputs: list[dict[str, Any]] | None = None


def _tensor_meta(config: ArtifactConfig) -> dict[str, list[dict[str, Any]]]:
    if config.task == "text":
        inputs = [{"name": config.text_column, "datatype": "BYTES", "shape": [-1]}]
    else:
        inputs = [{"name": f, "datatype": "FP32", "shape": [-1]} for f in config.feature_names]
    outputs = [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, config.num_classes]},
    ]
    return {"inputs": inputs, "outputs": outputs}


@router.get("/v2")
async def server_metadata() -> dict[str, Any]:
    return {"name": "mlops-serving", "version": __version__, "extensions": ["binary_tensor_data"]}


@router.get("/v2/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready")
async def ready(request: Request) -> JSONResponse:
    repo = inference_of(request).repository
    if repo.preloaded:
        return JSONResponse({"ready": True})
    return JSONResponse({"ready": False, "reasons": repo.preload_errors}, status_code=503)


async def _metadata(name: str, version: str | None, request: Request) -> dict[str, Any]:
    repo = inference_of(request).repository
    served = await repo.get(name, version)
    return {
        "name": served.name,
        "versions": await repo.versions(served.name),
        "platform": "onnxruntime" if served.artifact.runtime == "onnx" else "pytorch",
        "parameters": {
            "version": served.version,
            "digest": served.artifact.digest,
            "classLabels": served.class_labels,
            "architecture": served.artifact.config.architecture,
            "runtime": served.artifact.runtime,
        },
        **_tensor_meta(served.artifact.config),
    }


@router.get("/v2/models/{name}")
async def model_metadata(name: str, request: Request) -> dict[str, Any]:
    return await _metadata(name, None, request)


@router.get("/v2/models/{name}/versions/{version}")
async def version_metadata(name: str, version: str, request: Request) -> dict[str, Any]:
    return await _metadata(name, version, request)


async def _ready(name: str, version: str | None, request: Request) -> JSONResponse:
    repo = inference_of(request).repository
    key = await repo.resolve(name, version)
    if repo.is_loaded(*key):
        return JSONResponse({"name": name, "version": key[1], "ready": True})
    return JSONResponse({"name": name, "version": key[1], "ready": False}, status_code=503)


@router.get("/v2/models/{name}/ready")
async def model_ready(name: str, request: Request) -> JSONResponse:
    return await _ready(name, None, request)


@router.get("/v2/models/{name}/versions/{version}/ready")
async def version_ready(name: str, version: str, request: Request) -> JSONResponse:
    return await _ready(name, version, request)


async def _infer(name: str, version: str | None, request: Request) -> Response:
    length = header_length_of(request.scope["headers"])
    raw = await request.body()
    body, headers = await v2_infer(inference_of(request), name, version, raw, length)
    return Response(body, headers={k.decode(): v.decode() for k, v in headers})


V2_BODY = request_schema(InferRequest)


@router.post("/v2/models/{name}/infer", openapi_extra=V2_BODY)
async def infer(name: str, request: Request) -> Response:
    return await _infer(name, None, request)


@router.post("/v2/models/{name}/versions/{version}/infer", openapi_extra=V2_BODY)
async def infer_version(name: str, version: str, request: Request) -> Response:
    return await _infer(name, version, request)
