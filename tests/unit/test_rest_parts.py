"""REST API parts that need no cluster: error mapping, the review cache, experiment comparison,
drift references from posted records."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_core.preprocessing import fit_tabular
from mlops_core.storage import StorageError
from mlops_operator import kube
from mlops_operator.api.experiment import Experiment
from mlops_operator.operations import errors as ops
from mlops_operator.operations.drift import MIN_REFERENCE_RECORDS, reference_from_records
from mlops_operator.operations.experiments import compare_experiments
from mlops_operator.registry.stages import StageTransitionError
from mlops_operator.rest.auth import TtlCache
from mlops_operator.rest.deploy_request import DeployRequest, deployment_spec
from mlops_operator.rest.errors import (
    BadGatewayError,
    ForbiddenError,
    UnauthenticatedError,
    to_response,
)

pytestmark = pytest.mark.unit


def _answer(exc: Exception) -> tuple[int, str, str]:
    response = to_response(exc)
    body = json.loads(bytes(response.body))
    assert body["status"] == response.status_code
    return response.status_code, body["reason"], body["message"]


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (UnauthenticatedError("no token"), 401, "Unauthorized"),
        (ForbiddenError("may not"), 403, "Forbidden"),
        (BadGatewayError("down"), 502, "BadGateway"),
        (ops.NotFoundError("no such version"), 404, "NotFound"),
        (ops.InvalidRequestError("bad field"), 422, "Invalid"),
        (ops.ConflictError("taken"), 409, "Conflict"),
        (ops.UnavailableError("no endpoint yet"), 503, "Unavailable"),
        (StageTransitionError("archived cannot move"), 409, "Conflict"),
        (kube.NotFoundError("get x", 404, "gone"), 404, "NotFound"),
        (kube.ConflictError("create x", 409, "exists"), 409, "Conflict"),
        (kube.KubeError("get x", 500, "etcd down"), 502, "ApiServerError"),
        (StorageError("s3 down"), 502, "StorageError"),
        (RuntimeError("bug"), 500, "InternalError"),
    ],
)
def test_each_error_has_its_status_and_reason(error: Exception, status: int, reason: str) -> None:
    assert _answer(error)[:2] == (status, reason)


def test_the_api_servers_validation_message_is_passed_on_as_422() -> None:
    message = 'TrainingJob.mlops.dev "x" is invalid: spec.workers: must be at least 1'
    assert _answer(kube.InvalidError("create TrainingJob ns/x", 422, message)) == (
        422,
        "Invalid",
        message,
    )


def test_the_rest_apis_own_missing_permission_says_which_rules_to_grant() -> None:
    status, reason, message = _answer(kube.ForbiddenError("create x", 403, "forbidden: no"))
    assert (status, reason) == (500, "ServiceAccountForbidden")
    assert "rest-rbac-rules.yaml" in message


def test_a_pydantic_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        deployment_spec(DeployRequest.model_validate({"modelId": "m:1.0.0", "replicas": 2000}))
    status, reason, message = _answer(caught.value)
    assert (status, reason) == (422, "Invalid")
    assert "replicas" in message


def test_the_review_cache_expires_and_can_be_off() -> None:
    cache: TtlCache[str, int] = TtlCache(0.05)
    cache.put("a", 1)
    assert cache.get("a") == 1
    time.sleep(0.06)
    assert cache.get("a") is None
    off: TtlCache[str, int] = TtlCache(0)
    off.put("a", 1)
    assert off.get("a") is None
    small: TtlCache[int, int] = TtlCache(10, size=2)
    for key in range(3):
        small.put(key, key)
    assert (small.get(0), small.get(1), small.get(2)) == (None, 1, 2)


def _experiment(name: str, metric: str, direction: str, best: float | None) -> Experiment:
    status: dict[str, Any] = {"trialsCreated": 3, "trialsSucceeded": 3}
    if best is not None:
        status["bestTrial"] = {
            "number": 1,
            "trainingJob": f"{name}-1",
            "value": best,
            "params": {"lr": "0.01"},
        }
    return Experiment.from_body(
        {
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {
                "modelName": "m",
                "objective": {"metric": metric, "direction": direction},
                "searchSpace": [
                    {
                        "name": "model.optimizer.learningRate",
                        "type": "float",
                        "low": 0.001,
                        "high": 0.1,
                    }
                ],
                "trialTemplate": {
                    "dataset": {"train": "s3://b/t.csv"},
                    "model": {"architecture": "mlp"},
                },
            },
            "status": status,
        }
    )


def test_experiments_compare_by_their_shared_objective() -> None:
    result = compare_experiments(
        [
            _experiment("a", "val_loss", "minimize", 0.4),
            _experiment("b", "val_loss", "minimize", 0.3),
            _experiment("c", "val_loss", "minimize", None),
        ]
    )
    assert result.comparable
    assert result.best == "b"
    assert [r.best_params for r in result.rows] == [{"lr": "0.01"}, {"lr": "0.01"}, {}]
    maximised = compare_experiments(
        [_experiment("a", "val_f1", "maximize", 0.8), _experiment("b", "val_f1", "maximize", 0.7)]
    )
    assert maximised.best == "a"


def test_experiments_with_different_objectives_have_no_winner() -> None:
    result = compare_experiments(
        [_experiment("a", "val_loss", "minimize", 0.4), _experiment("b", "val_f1", "maximize", 0.9)]
    )
    assert not result.comparable
    assert result.best is None


def _records(n: int) -> list[dict[str, Any]]:
    return [{"age": 20 + i, "city": "paris" if i % 2 else "rome", "label": i % 2} for i in range(n)]


def test_a_drift_reference_describes_the_posted_records_with_the_models_features() -> None:
    training = {k: [r[k] for r in _records(50)] for k in ("age", "city")}
    preprocessor = fit_tabular(training, feature_columns=["age", "city"])
    posted = [{"age": 60 + i, "city": "oslo"} for i in range(40)]
    stats = reference_from_records(preprocessor, posted)
    age = stats.feature("age")
    assert age.kind == "numeric"
    assert age.min == 60
    assert age.max == 99
    city = stats.feature("city")
    assert city.kind == "categorical"
    assert dict(zip(city.categories, city.counts, strict=True)).get("oslo") == 40


def test_a_drift_reference_needs_enough_records_that_fit_the_model() -> None:
    preprocessor = fit_tabular(
        {"age": list(range(30)), "city": ["a"] * 30}, feature_columns=["age", "city"]
    )
    with pytest.raises(ops.InvalidRequestError, match=f"at least {MIN_REFERENCE_RECORDS}"):
        reference_from_records(preprocessor, [{"age": 1, "city": "a"}])
    with pytest.raises(ops.InvalidRequestError, match="age"):
        reference_from_records(preprocessor, [{"city": "a"}] * 20)
