"""The MLOps REST API against the real API server: a uvicorn server on loopback acting as its
own ServiceAccount (the chart's rest-rbac-rules.yaml), callers with TokenRequest tokens of two
ServiceAccounts (one may only read), results checked with kubectl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import service_examples as service
from mlops_core.artifact import ARTIFACT_FILES, CONFIG_FILE, METRICS_FILE, publish_files
from mlops_core.storage import open_store
from mlops_devcluster.cluster import DevCluster
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import InvalidError
from mlops_operator.rest.errors import to_response
from rest_support import Api, cluster_rest_api, s3_client_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(devcluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with cluster_rest_api(devcluster, tmp_path_factory.mktemp("rest")) as served:
        yield served


SEED_TRAIN = {
    "config": {"modelType": "mlp", "modelId": "fraud"},
    "datasetConfig": {"train": "s3://mlops/datasets/fraud/train.csv", "labelColumn": "label"},
    "modelConfig": {"hiddenSizes": [8], "learningRate": 0.01},
    "trainingConfig": {"epochs": 2, "batchSize": 16},
    "experimentName": "fraud-rest",
}
EXPERIMENT = {
    "modelName": "fraud",
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
    "searchSpace": [
        {"name": "model.optimizer.learningRate", "type": "float", "low": 0.001, "high": 0.1}
    ],
    "maxTrials": 2,
    "trialTemplate": {
        "dataset": {"train": "s3://mlops/datasets/fraud/train.csv"},
        "model": {"architecture": "mlp"},
    },
}
# (method, path, body, writes)
ENDPOINTS: list[tuple[str, str, Any, bool]] = [
    ("POST", "/mlops/train", SEED_TRAIN, True),
    ("GET", "/mlops/train/none", None, False),
    ("GET", "/mlops/models", None, False),
    ("GET", "/mlops/models/fraud/1.0.0", None, False),
    ("POST", "/mlops/models/fraud/1.0.0/promote", {"stage": "staging"}, True),
    ("POST", "/mlops/models/compare", {"modelId": "fraud", "versions": ["1.0.0", "1.1.0"]}, False),
    ("POST", "/mlops/deploy", {"modelId": "fraud:1.0.0", "name": "matrix"}, True),
    ("POST", "/mlops/predict", {"modelId": "fraud", "input": {"amount": 1}}, False),
    ("POST", "/mlops/predict/batch", {"requests": [{"modelId": "f", "input": {}}]}, False),
    ("POST", "/mlops/experiments", EXPERIMENT, True),
    ("GET", "/mlops/experiments/none", None, False),
    ("POST", "/mlops/experiments/compare", {"experimentIds": ["a", "b"]}, False),
    ("GET", "/mlops/models/fraud/drift", None, False),
    ("POST", "/mlops/models/fraud/drift/init", {"records": [{"amount": 1}]}, True),
]


def test_401_403_matrix(api: Api) -> None:
    for method, path, body, writes in ENDPOINTS:
        where = f"{method} {path}"
        missing = api.call(method, path, token=None, body=body)
        assert missing.status_code == 401, where
        assert missing.json()["reason"] == "Unauthorized", where
        bogus = api.call(method, path, token="not-a-token", body=body)
        assert bogus.status_code == 401, (where, bogus.text)
        assert "not valid" in bogus.json()["message"], where
        read = api.call(method, path, token=api.reader, body=body)
        if writes:
            assert read.status_code == 403, (where, read.text)
            assert read.json()["reason"] == "Forbidden"
            assert f"system:serviceaccount:{api.namespace}:reader" in read.json()["message"]
        else:
            assert read.status_code not in (401, 403), (where, read.text)
        wrote = api.call(method, path, token=api.writer, body=body)
        assert wrote.status_code not in (401, 403, 500), (where, wrote.text)
    other = api.call("GET", "/mlops/models?namespace=kube-system", token=api.writer)
    assert other.status_code == 403
    assert 'namespace "kube-system"' in other.json()["message"]


def test_train_creates_a_training_job_seen_with_kubectl(api: Api) -> None:
    body = {**SEED_TRAIN, "config": {**SEED_TRAIN["config"], "jobId": "fraud-rest-1"}}
    created = api.call("POST", "/mlops/train", token=api.writer, body=body)
    assert created.status_code == 201, created.text
    assert created.json()["jobId"] == "fraud-rest-1"
    job = api.kubectl_json("get", "trainingjob", "fraud-rest-1", "--show-managed-fields")
    assert job["spec"]["modelName"] == "fraud"
    assert job["spec"]["model"]["architecture"] == "mlp"
    assert job["spec"]["model"]["optimizer"]["learningRate"] == 0.01
    assert job["spec"]["mlflowExperiment"] == "fraud-rest"
    assert job["metadata"]["managedFields"][0]["manager"] == "mlops-rest-api"
    read = api.call("GET", "/mlops/train/fraud-rest-1", token=api.reader)
    assert read.status_code == 200
    assert (read.json()["modelId"], read.json()["status"]) == ("fraud", "Pending")
    again = api.call("POST", "/mlops/train", token=api.writer, body=body)
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]
    missing = api.call("GET", "/mlops/train/nope", token=api.reader)
    assert (missing.status_code, missing.json()["reason"]) == (404, "NotFound")


def test_bad_bodies_are_422_naming_the_field(api: Api) -> None:
    typo = {**SEED_TRAIN, "trainingConfig": {"epoch": 2}}
    answer = api.call("POST", "/mlops/train", token=api.writer, body=typo)
    assert answer.status_code == 422
    assert "epoch" in answer.json()["message"]
    neither = api.call("POST", "/mlops/deploy", token=api.writer, body={"modelId": "m"})
    assert neither.status_code == 422
    assert "exactly one of version and followStage" in neither.json()["message"]
    unknown = api.call(
        "POST", "/mlops/deploy", token=api.writer, body={**service.deploy(), "replica": 2}
    )
    assert unknown.status_code == 422
    assert "replica" in unknown.json()["message"]


def test_the_api_servers_own_validation_message_becomes_422(api: Api) -> None:
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": "invalid", "namespace": api.namespace},
        "spec": {"model": "m", "version": "1.0.0", "followStage": "production"},
    }
    with pytest.raises(InvalidError) as refused:
        api.admin.create(manifest)
    answer = to_response(refused.value)
    body = json.loads(bytes(answer.body))
    assert (answer.status_code, body["reason"]) == (422, "Invalid")
    assert "set exactly one of version and followStage" in body["message"]
    assert 'Deployment.mlops.dev "invalid" is invalid' in body["message"]


def _register(
    api: Api, model: str, version: str, metrics: dict[str, float], *, job: str | None = None
) -> str:
    files = {name: f"{name} of {version}".encode() for name in ARTIFACT_FILES}
    files[METRICS_FILE] = json.dumps({"validation": metrics}).encode()
    files[CONFIG_FILE] = json.dumps({"architecture": "mlp"}).encode()
    uri = f"{api.s3_root}/{model}/{version}"
    published = publish_files(
        open_store(uri, client=s3_client_of(api.devcluster)),
        model=model,
        version=version,
        files=files,
    )
    name = f"{model}-{version.replace('.', '-')}"
    api.admin.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ModelVersion",
            "metadata": {"name": name, "namespace": api.namespace},
            "spec": {
                "model": model,
                "version": version,
                "stage": "draft",
                "artifact": {"uri": uri, "digest": published.digest},
                "metrics": metrics,
                "hyperparameters": {"lr": version},
                **({"lineage": {"trainingJob": job}} if job else {}),
            },
        }
    )
    return name


def test_registry_list_read_compare_promote(api: Api) -> None:
    api.admin.create(
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": "reg", "namespace": api.namespace},
            "spec": {"task": "tabular-classification"},
        }
    )
    _register(api, "reg", "1.0.0", {"val_accuracy": 0.8})
    name = _register(api, "reg", "1.1.0", {"val_accuracy": 0.9})
    listed = api.call("GET", "/mlops/models?modelId=reg", token=api.reader).json()["models"]
    assert [v["version"] for v in listed[0]["versions"]] == ["1.0.0", "1.1.0"]
    everything = api.call("GET", "/mlops/models", token=api.reader).json()["models"]
    assert "reg" in [m["modelId"] for m in everything]
    one = api.call("GET", "/mlops/models/reg/1.1.0", token=api.reader).json()
    assert (one["name"], one["metrics"]) == (name, {"val_accuracy": 0.9})
    compared = api.call(
        "POST",
        "/mlops/models/compare",
        token=api.reader,
        body={"modelId": "reg", "versions": ["1.0.0", "1.1.0"]},
    ).json()
    assert compared["metrics"][0]["delta"] == pytest.approx(0.1)
    assert compared["changedHyperparameters"] == [{"name": "lr", "left": "1.0.0", "right": "1.1.0"}]
    missing = api.call("GET", "/mlops/models/reg/9.9.9", token=api.reader)
    assert missing.status_code == 404
    assert "1.0.0, 1.1.0" in missing.json()["message"]
    promoted = api.call(
        "POST", "/mlops/models/reg/1.1.0/promote", token=api.writer, body={"stage": "production"}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["transitions"][0] == {
        "version": "1.1.0",
        "from": "draft",
        "to": "production",
        "name": name,
    }
    assert api.kubectl_json("get", "modelversion", name)["spec"]["stage"] == "production"
    illegal = api.call(
        "POST", "/mlops/models/reg/1.1.0/promote", token=api.writer, body={"stage": "draft"}
    )
    assert (illegal.status_code, illegal.json()["reason"]) == (409, "Conflict")


def test_experiments_create_read_compare(api: Api) -> None:
    for name in ("search-a", "search-b"):
        created = api.call(
            "POST",
            "/mlops/experiments",
            token=api.writer,
            body={**EXPERIMENT, "experimentId": name},
        )
        assert created.status_code == 201, created.text
    seen = api.kubectl_json("get", "experiment", "search-a")
    assert seen["spec"]["objective"] == {"metric": "val_accuracy", "direction": "maximize"}
    read = api.call("GET", "/mlops/experiments/search-a", token=api.reader).json()
    assert read["trials"]["created"] == 0
    compared = api.call(
        "POST",
        "/mlops/experiments/compare",
        token=api.reader,
        body={"experimentIds": ["search-a", "search-b"]},
    ).json()
    assert compared["comparable"] is True
    assert [e["experimentId"] for e in compared["experiments"]] == ["search-a", "search-b"]


def test_the_services_documented_bodies_reach_their_resources(api: Api) -> None:
    """The replaced service's own example bodies, one per endpoint, each checked on the
    resource it creates or reads."""
    model = "threat-classifier"
    trained = api.call("POST", "/mlops/train", token=api.writer, body=service.train())
    assert trained.status_code == 201, trained.text
    job_name = trained.json()["jobId"]
    spec = api.kubectl_json("get", "trainingjob", job_name)["spec"]
    assert spec["modelName"] == model
    assert spec["model"]["architecture"] == "lstm"
    assert spec["model"]["optimizer"] == {
        "name": "adam",
        "learningRate": 0.001,
        "weightDecay": 0.0,
        "momentum": 0.0,
    }
    assert spec["model"]["loss"] == "cross_entropy"
    assert (spec["training"]["epochs"], spec["training"]["batchSize"]) == (50, 32)
    assert spec["training"]["earlyStopping"] == {
        "enabled": True,
        "patience": 10,
        "monitor": "val_loss",
        "mode": "min",
        "minDelta": 0.0,
    }
    assert spec["dataset"]["test"] == f"{service.THREAT_DATA}/test.csv"
    assert spec["dataset"]["textColumn"] == "description"
    assert spec["mlflowExperiment"] == "threat-classifier-v2"

    refused = api.call("POST", "/mlops/experiments", token=api.writer, body=service.experiment())
    assert refused.status_code == 422, refused.text
    assert "trialTemplate" in refused.json()["message"]
    assert "POST /mlops/train" in refused.json()["message"]

    _register(api, model, "1.0.0", {"val_accuracy": 0.8})
    _register(api, model, "1.1.0", {"val_accuracy": 0.9}, job=job_name)
    listed = api.call("GET", f"/mlops/models?modelId={model}", token=api.reader)
    assert [v["version"] for v in listed.json()["models"][0]["versions"]] == ["1.0.0", "1.1.0"]
    compared = api.call("POST", "/mlops/models/compare", token=api.reader, body=service.compare())
    assert compared.status_code == 200, compared.text
    assert (compared.json()["left"], compared.json()["right"]) == ("1.0.0", "1.1.0")
    assert compared.json()["metrics"][0]["delta"] == pytest.approx(0.1)

    creator = api.account("searcher", {"experiments": ["create"]})
    unread = api.call("POST", "/mlops/experiments", token=creator, body=service.experiment())
    assert unread.status_code == 403, unread.text
    assert 'list "models"' in unread.json()["message"]
    searched = api.call("POST", "/mlops/experiments", token=api.writer, body=service.experiment())
    assert searched.status_code == 201, searched.text
    experiment = api.kubectl_json("get", "experiment", "threat-classifier-tuning")["spec"]
    assert experiment["modelName"] == model
    assert experiment["objective"] == {"metric": "val_accuracy", "direction": "maximize"}
    assert (experiment["strategy"], experiment["maxTrials"], experiment["parallelTrials"]) == (
        "bayesian",
        100,
        4,
    )
    assert {p["name"]: p for p in experiment["searchSpace"]}["model.hiddenDim"]["values"] == [
        "64",
        "128",
        "256",
    ]
    assert experiment["trialTemplate"]["model"] == spec["model"]
    assert experiment["trialTemplate"]["dataset"] == spec["dataset"]

    deployed = api.call("POST", "/mlops/deploy", token=api.writer, body=service.deploy())
    assert deployed.status_code == 200, deployed.text
    deployment = api.kubectl_json("get", "deployments.mlops.dev", model)["spec"]
    assert (deployment["model"], deployment["version"]) == (model, "1.1.0")
    assert "followStage" not in deployment
