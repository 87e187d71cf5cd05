"""Explanations of a served model's predictions, for the CLI (``mlops explain``) and the REST
API (``POST /mlops/explain``) alike: which endpoint to ask, with what, and the answer's top
features per instance.

The request goes to the Deployment's endpoint (its router) as KServe v1 ``:explain``; with a
version it names that version in the path and in ``x-mlops-version``; with a prediction id it
carries the id in ``x-mlops-prediction-id``, whose version both the router and the server read.
Either way the version that answered the prediction being explained explains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mlops_core.prediction_ids import PREDICTION_ID_HEADER, PREDICTION_ID_MAX
from mlops_core.routing import VERSION_HEADER
from mlops_operator.operations.errors import InvalidRequestError
from mlops_operator.operations.serving import serving_deployment
from mlops_operator.operations.target import Target

#: the most instances one call may carry (the server's own limit may be lower: it says so)
MAX_EXPLAIN_INSTANCES: Final = 1024
TOP_FEATURES: Final = 5


@dataclass(frozen=True)
class ExplainCall:
    """The HTTP request that explains ``instances`` on the model's endpoint."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str]


def explain_call(
    target: Target,
    *,
    model: str,
    version: str | None,
    instances: Sequence[Any],
    deployment: str | None = None,
    prediction_id: str | None = None,
) -> ExplainCall:
    """Where and what to post; NotFoundError/UnavailableError when nothing serves the model,
    InvalidRequestError when the instances are not a non-empty list of records or texts."""
    if not instances:
        raise InvalidRequestError("nothing to explain: give at least one instance")
    if len(instances) > MAX_EXPLAIN_INSTANCES:
        raise InvalidRequestError(
            f"{len(instances)} instances: at most {MAX_EXPLAIN_INSTANCES} per call"
        )
    for index, item in enumerate(instances):
        if not isinstance(item, Mapping | str | list):
            raise InvalidRequestError(
                f"instance {index} is a {type(item).__name__}: give an object of column → value "
                "(or a text, for a text model)"
            )
    if prediction_id is not None and not 0 < len(prediction_id) <= PREDICTION_ID_MAX:
        raise InvalidRequestError(
            f"prediction id of {len(prediction_id)} characters: give the id a prediction "
            f"answered with (at most {PREDICTION_ID_MAX})"
        )
    found = serving_deployment(target, model, name=deployment)
    endpoint = str(found.status.endpoint).rstrip("/")
    where = f"/versions/{version}" if version else ""
    headers = {VERSION_HEADER: version} if version else {}
    if prediction_id is not None:
        headers[PREDICTION_ID_HEADER] = prediction_id
    return ExplainCall(
        url=f"{endpoint}/v1/models/{model}{where}:explain",
        body={"instances": list(instances)},
        headers=headers,
    )


def instances_of(document: Any) -> list[Any]:
    """The instances of a JSON input file: a list, ``{"instances": [...]}`` or one record."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        instances = document.get("instances", [document])
        if isinstance(instances, list):
            return instances
    raise InvalidRequestError(
        'the input must be a JSON list of records, {"instances": [...]} or one record'
    )


def top_features(
    explanation: Mapping[str, Any], count: int = TOP_FEATURES
) -> list[tuple[str, float]]:
    """The ``count`` attributions of largest magnitude, largest first."""
    pairs = [(str(a["feature"]), float(a["value"])) for a in explanation.get("attributions", [])]
    return sorted(pairs, key=lambda pair: -abs(pair[1]))[:count]
