"""``POST /mlops/deploy`` (a Deployment, created or updated), ``POST /mlops/predict[/batch]`` and
``POST /mlops/explain`` (forwarded to the endpoint of the Deployment that serves the model)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from mlops_core.prediction_ids import PREDICTION_ID_MAX
from mlops_core.wire import WireModel
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.meta import LABEL_NAME_MAX, LABEL_NAME_PATTERN, SEMVER_MAX
from mlops_operator.operations.explain import MAX_EXPLAIN_INSTANCES, explain_call
from mlops_operator.operations.serving import apply_deployment, serving_deployment
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.deploy_request import DeployRequest, deployment_name, deployment_spec
from mlops_operator.rest.errors import BadGatewayError
from mlops_operator.rest.views import ERRORS, DeploymentView

router = APIRouter(tags=["serving"], responses=ERRORS)

MAX_BATCH_REQUESTS = 1000
READ_DEPLOYMENTS = Access(Permission("get", "deployments"), Permission("list", "deployments"))
DeploymentQuery = Annotated[
    str | None,
    Query(
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="The Deployment to use when several serve the model.",
    ),
]


def deployment_view(deployment: Deployment) -> DeploymentView:
    status = deployment.status
    return DeploymentView(
        deployment_id=deployment.metadata.name,
        namespace=deployment.metadata.namespace,
        model_id=deployment.spec.model,
        version=deployment.spec.version,
        follow_stage=deployment.spec.follow_stage,
        status=status.phase or "Pending",
        endpoint=status.endpoint,
        traffic=status.traffic,
        conditions=status.conditions,
        deployment=deployment.to_wire(),
    )


@router.post("/mlops/deploy", summary="Serve a model: create or update a Deployment")
def deploy(
    body: DeployRequest,
    scope: Annotated[
        Scope,
        Depends(Access(Permission("create", "deployments"), Permission("patch", "deployments"))),
    ],
) -> DeploymentView:
    spec = deployment_spec(body)
    return deployment_view(apply_deployment(scope.target, deployment_name(body), spec))


class PredictRequest(WireModel):
    """One prediction, as the model server takes it."""

    model_id: str = Field(min_length=1, max_length=300, description="'name' or 'name:version'.")
    version: str | None = Field(default=None, max_length=SEMVER_MAX)
    input: dict[str, Any] = Field(
        description="Feature columns, or the text column(s) for a text model."
    )

    @property
    def model(self) -> str:
        return self.model_id.partition(":")[0]


class ExplainRequest(WireModel):
    """Instances to explain, as the model server's ``:explain`` takes them."""

    model_id: str = Field(min_length=1, max_length=300, description="'name' or 'name:version'.")
    version: str | None = Field(
        default=None,
        max_length=SEMVER_MAX,
        description="The version that answered the prediction to explain (its x-mlops-version); "
        "default: the prediction id's version, else the one the router picks.",
    )
    prediction_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=PREDICTION_ID_MAX,
        description="The id the prediction to explain was answered with: the version that made "
        "it explains it.",
    )
    instances: list[dict[str, Any] | str] = Field(
        min_length=1,
        max_length=MAX_EXPLAIN_INSTANCES,
        description="Records of feature columns, or texts for a text model.",
    )


class BatchPredictRequest(WireModel):
    requests: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)


async def _endpoint(scope: Scope, model: str, deployment: str | None) -> str:
    found = await run_in_threadpool(serving_deployment, scope.target, model, name=deployment)
    return str(found.status.endpoint).rstrip("/")


def passed_headers(request: Request) -> dict[str, str]:
    """The caller's ``x-*`` headers (e.g. the router's sticky header for an A/B test); never
    its Authorization, which is for this API only."""
    return {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}


async def _forward(
    scope: Scope, url: str, payload: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    http = scope.services.http
    if http is None:
        raise RuntimeError("the HTTP client is opened by the app's lifespan")
    try:
        return await http.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise BadGatewayError(
            f"the model endpoint {url} did not answer ({type(exc).__name__}: {exc}); check the "
            "Deployment's status and its router pods"
        ) from exc


def _answer(response: httpx.Response) -> JSONResponse:
    """The endpoint's answer as it is, with its ``x-mlops-*`` headers (e.g. the version)."""
    try:
        content = response.json()
    except ValueError:
        return JSONResponse(
            {
                "status": 502,
                "reason": "BadGateway",
                "message": f"the model endpoint answered {response.status_code} without JSON: "
                f"{response.text[:200]}",
            },
            status_code=502,
        )
    headers = {k: v for k, v in response.headers.items() if k.lower().startswith("x-mlops-")}
    return JSONResponse(content, status_code=response.status_code, headers=headers)


PREDICTION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The model server's answer, passed on as it is (its 4xx too): "
        "predictionId, modelId, version, prediction, confidence, probabilities, latencyMs.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/mlops/predict",
    summary="A prediction from the model's Deployment",
    response_class=JSONResponse,
    responses=PREDICTION,
)
async def predict(
    body: PredictRequest,
    request: Request,
    scope: Annotated[Scope, Depends(READ_DEPLOYMENTS)],
    deployment: DeploymentQuery = None,
) -> JSONResponse:
    endpoint = await _endpoint(scope, body.model, deployment)
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    forwarded = await _forward(scope, f"{endpoint}/mlops/predict", payload, passed_headers(request))
    return _answer(forwarded)


@router.post(
    "/mlops/predict/batch",
    summary="Several predictions, each from its model",
    response_class=JSONResponse,
    responses=PREDICTION,
)
async def predict_batch(
    body: BatchPredictRequest,
    request: Request,
    scope: Annotated[Scope, Depends(READ_DEPLOYMENTS)],
    deployment: DeploymentQuery = None,
) -> JSONResponse:
    """Requests are grouped by model, each group sent as one batch to that model's endpoint,
    and the answers put back in the order asked."""
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(body.requests):
        groups.setdefault(item.model, []).append(index)

    async def one(model: str, indexes: list[int]) -> httpx.Response:
        endpoint = await _endpoint(scope, model, deployment)
        payload = {
            "requests": [
                body.requests[i].model_dump(mode="json", by_alias=True, exclude_none=True)
                for i in indexes
            ]
        }
        headers = passed_headers(request)
        return await _forward(scope, f"{endpoint}/mlops/predict/batch", payload, headers)

    answers = await asyncio.gather(*(one(m, ix) for m, ix in groups.items()))
    responses: list[Any] = [None] * len(body.requests)
    for (_, indexes), answer in zip(groups.items(), answers, strict=True):
        if answer.status_code != 200:
            return _answer(answer)
        for index, item in zip(indexes, answer.json().get("responses", []), strict=False):
            responses[index] = item
    return JSONResponse({"responses": responses})


EXPLANATION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The model server's answer, passed on as it is (its 4xx too, e.g. 413 "
        "past its instance limit): model, version, runtime, and per instance the label, the "
        "output explained, prediction, baseValue, attributions and additivityError.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/mlops/explain",
    summary="SHAP attributions of predictions, from the model's Deployment",
    response_class=JSONResponse,
    responses=EXPLANATION,
)
async def explain(
    body: ExplainRequest,
    request: Request,
    scope: Annotated[Scope, Depends(READ_DEPLOYMENTS)],
    deployment: DeploymentQuery = None,
) -> JSONResponse:
    model, _, pinned = body.model_id.partition(":")
    call = await run_in_threadpool(
        lambda: explain_call(
            scope.target,
            model=model,
            version=body.version or pinned or None,
            instances=body.instances,
            deployment=deployment,
            prediction_id=body.prediction_id,
        )
    )
    headers = {**passed_headers(request), **call.headers}
    return _answer(await _forward(scope, call.url, call.body, headers))
