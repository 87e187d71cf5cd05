"""Deploy, predict and drift through the REST API: a Deployment created by REST, predictions
forwarded to a real model server behind a real router on loopback (the endpoint a Deployment
reports in status), drift read from status, and a new drift reference stored in MinIO."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from test_serving_models import FEATURES, ServerProcess, run_process, run_server, train_tabular

from mlops_core.reference_stats import ReferenceStats
from mlops_core.storage import open_store
from mlops_devcluster.cluster import DevCluster
from mlops_operator.api.meta import API_VERSION
from mlops_operator.operations.drift import DRIFT_REFERENCE_ANNOTATION
from rest_support import Api, cluster_rest_api, s3_client_of

pytestmark = pytest.mark.integration

RECORD = {"amount": 150.0, "age": 30, "score": 1.0, "segment": "vip"}


@pytest.fixture(scope="module")
def api(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with cluster_rest_api(devcluster, tmp_path_factory.mktemp("rest")) as served:
        yield served


@pytest.fixture(scope="module")
def router(
    api: Api, devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """fraud 1.0.0 trained and published to MinIO, registered as a ModelVersion, served by a
    model server process behind a router process."""
    client = s3_client_of(devcluster)
    uri = f"{api.s3_root}/fraud/1.0.0"
    digest = train_tabular(open_store(uri, client=client), version="1.0.0", epochs=30)
    api.admin.create(
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": "fraud", "namespace": api.namespace},
            "spec": {"task": "tabular-classification"},
        }
    )
    api.admin.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ModelVersion",
            "metadata": {"name": "fraud-1-0-0", "namespace": api.namespace},
            "spec": {
                "model": "fraud",
                "version": "1.0.0",
                "artifact": {"uri": uri, "digest": digest},
            },
        }
    )
    logs = tmp_path_factory.mktemp("serving")
    with run_server(
        api.s3_root,
        host="127.0.0.31",
        log_dir=logs,
        MODEL_VERSIONS="fraud:1.0.0",
        PRELOAD_MODELS="fraud",
        **devcluster.s3_env(),
    ) as server:
        config = logs / "router.json"
        config.write_text(
            json.dumps(
                {
                    "model": "fraud",
                    "backends": [
                        {
                            "version": "1.0.0",
                            "weight": 100,
                            "endpoints": [f"{server.host}:{server.port}"],
                        }
                    ],
                }
            )
        )
        with run_process(
            "route",
            host="127.0.0.32",
            env={"ROUTER_CONFIG_FILE": str(config)},
            log_dir=logs,
            ready_path="/readyz",
        ) as routed:
            yield routed


def _report_status(api: Api, name: str, status: dict[str, Any]) -> None:
    """What the Deployment reconciler writes: the router Service's URL and drift scores."""
    api.admin.merge_patch(
        API_VERSION, "Deployment", name, api.namespace, {"status": status}, subresource="status"
    )


def test_deploy_predict_drift(api: Api, router: ServerProcess) -> None:
    deployed = api.call(
        "POST", "/mlops/deploy", token=api.writer, body={"modelId": "fraud:1.0.0", "replicas": 2}
    )
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["deploymentId"] == "fraud"
    seen = api.kubectl_json("get", "deployments.mlops.dev", "fraud")
    assert (seen["spec"]["version"], seen["spec"]["replicas"]) == ("1.0.0", 2)
    updated = api.call(
        "POST", "/mlops/deploy", token=api.writer, body={"modelId": "fraud:1.0.0", "replicas": 1}
    )
    assert updated.status_code == 200
    assert api.kubectl_json("get", "mldeploy", "fraud")["spec"]["replicas"] == 1

    waiting = api.call("POST", "/mlops/predict", token=api.reader, body=_predict(RECORD))
    assert (waiting.status_code, waiting.json()["reason"]) == (503, "Unavailable")
    assert "no endpoint yet" in waiting.json()["message"]

    now = datetime.now(UTC).isoformat()
    _report_status(
        api,
        "fraud",
        {
            "endpoint": router.url,
            "stableVersion": "1.0.0",
            "drift": [
                {
                    "version": "1.0.0",
                    "method": "psi",
                    "score": 0.5,
                    "feature": "amount",
                    "drifted": True,
                    "time": now,
                }
            ],
        },
    )
    answer = api.call("POST", "/mlops/predict", token=api.reader, body=_predict(RECORD))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["modelId"], body["version"]) == ("fraud", "1.0.0")
    assert body["prediction"] in ("fraud", "ok")
    assert set(body["probabilities"]) == {"fraud", "ok"}
    assert answer.headers["x-mlops-version"] == "1.0.0"  # the router's, passed on

    batch = api.call(
        "POST",
        "/mlops/predict/batch",
        token=api.reader,
        body={"requests": [_predict({**RECORD, "amount": a}) for a in (10.0, 5000.0, 70.0)]},
    )
    assert batch.status_code == 200, batch.text
    assert len(batch.json()["responses"]) == 3
    assert all(r["version"] == "1.0.0" for r in batch.json()["responses"])

    bad = api.call("POST", "/mlops/predict", token=api.reader, body=_predict({"amount": "x"}))
    assert bad.status_code == 400  # the model server's own answer, passed on
    assert "error" in bad.json()
    unknown = api.call(
        "POST", "/mlops/predict", token=api.reader, body={**_predict(RECORD), "modelId": "nope"}
    )
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "NotFound")

    # the explanation of that prediction, through the router to the version that answered
    explained = api.call(
        "POST",
        "/mlops/explain",
        token=api.reader,
        body={
            "modelId": "fraud",
            "version": answer.headers["x-mlops-version"],
            "instances": [RECORD],
        },
    )
    assert explained.status_code == 200, explained.text
    assert explained.headers["x-mlops-version"] == "1.0.0"
    (first,) = explained.json()["explanations"]
    assert first["label"] == body["prediction"]
    assert [a["feature"] for a in first["attributions"]] == FEATURES
    assert first["additivityError"] <= 1e-6
    too_many = api.call(
        "POST",
        "/mlops/explain",
        token=api.reader,
        body={"modelId": "fraud", "instances": [RECORD] * 17},
    )
    assert too_many.status_code == 413  # the model server's limit, named and passed on
    assert "limit of 16" in too_many.text

    drift = api.call("GET", "/mlops/models/fraud/drift", token=api.reader).json()
    assert drift["driftDetected"] is True
    assert drift["deployments"][0]["versions"][0]["score"] == 0.5

    records = [{**RECORD, "amount": 100.0 + i, "age": 20 + i % 40} for i in range(40)]
    created = api.call(
        "POST", "/mlops/models/fraud/drift/init", token=api.writer, body={"records": records}
    )
    assert created.status_code == 201, created.text
    made = created.json()
    assert (made["version"], made["records"], made["deployments"]) == ("1.0.0", 40, ["fraud"])
    assert set(made["features"]) == set(FEATURES)
    uri = made["referenceUri"]
    folder, _, file = uri.rpartition("/")
    stored = ReferenceStats.from_json(
        open_store(folder, client=s3_client_of(api.devcluster)).read_bytes(file)
    )
    assert stored.feature("amount").min == 100.0
    annotations = api.kubectl_json("get", "mldeploy", "fraud")["metadata"]["annotations"]
    assert annotations[DRIFT_REFERENCE_ANNOTATION] == uri
    after = api.call("GET", "/mlops/models/fraud/drift", token=api.reader).json()
    assert after["deployments"][0]["reference"] == uri

    few = api.call(
        "POST", "/mlops/models/fraud/drift/init", token=api.writer, body={"records": records[:3]}
    )
    assert (few.status_code, few.json()["reason"]) == (422, "Invalid")
    assert "at least 10 records" in few.json()["message"]


def _predict(record: dict[str, Any]) -> dict[str, Any]:
    return {"modelId": "fraud", "input": record}
