"""The model server as a real process on loopback, with tiny models trained for the test."""

from __future__ import annotations

import concurrent.futures
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_serving_models import (
    FEATURES,
    ServerProcess,
    build_repository,
    run_server,
    tabular_data,
)

from mlops_core.artifact import MANIFEST_FILE, digest_of
from mlops_core.serving_spec import model_digests_value

pytestmark = pytest.mark.integration

RECORD = {"amount": 150.0, "age": 30, "score": 1.0, "segment": "vip"}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("logs")
    with run_server(
        repository,
        host="127.0.0.2",
        log_dir=logs,
        PRELOAD_MODELS="fraud:1.0.0",
        DRIFT_WINDOW_SIZE="200",
        DRIFT_MIN_SAMPLES="50",
        DRIFT_SAMPLE_PER_BATCH="1000",
        MAX_REQUEST_BYTES="65536",
    ) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (label order does not matter)."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if found == labels:
            return float(match.group(2))
    raise AssertionError(f"{name} {labels} not in metrics")


def records(n: int, *, seed: int, shift: float = 0.0) -> list[dict[str, object]]:
    data = tabular_data(n, seed=seed, shift=shift)
    return [{f: data[f][i] for f in FEATURES} for i in range(n)]


def test_health_and_readiness_reflect_preload(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/fraud/versions/1.0.0/ready").json()["ready"] is True
    assert client.get("/v1/models/fraud").json()["version"] == "1.1.0"  # highest semver


def test_v1_predict_objects_and_lists_with_prediction_ids(client: httpx.Client) -> None:
    body = {"instances": [RECORD, [50.0, 40, -1.5, "retail"]]}
    answer = client.post("/v1/models/fraud/versions/1.0.0:predict", json=body).json()
    assert answer["predictions"] == ["fraud", "ok"]
    assert answer["version"] == "1.0.0"
    assert len(set(answer["predictionIds"])) == 2
    assert all(abs(sum(p) - 1) < 1e-5 for p in answer["probabilities"])


def test_v2_infer_typed_tensors(client: httpx.Client) -> None:
    inputs = [
        {"name": "amount", "shape": [2], "datatype": "FP32", "data": [150.0, 50.0]},
        {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[30], [40]]},
        {"name": "score", "shape": [2], "datatype": "FP32", "data": [1.0, -1.5]},
        {"name": "segment", "shape": [2], "datatype": "BYTES", "data": ["vip", "retail"]},
    ]
    answer = client.post(
        "/v2/models/fraud/versions/1.0.0/infer", json={"id": "r1", "inputs": inputs}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r1"
    assert body["model_version"] == "1.0.0"
    labels = next(o for o in body["outputs"] if o["name"] == "label")
    assert labels == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["fraud", "ok"]}
    probs = next(o for o in body["outputs"] if o["name"] == "probabilities")
    assert probs["shape"] == [2, 2]
    assert len(body["parameters"]["prediction_ids"]) == 2
    text = {
        "inputs": [
            {
                "name": "t",
                "shape": [2],
                "datatype": "BYTES",
                "data": ["malware breach exploit", "weekly lunch meeting"],
            }
        ]
    }
    answer = client.post("/v2/models/threats/infer", json=text).json()
    assert answer["outputs"][0]["data"] == ["threat", "benign"]
    meta = client.get("/v2/models/threats").json()
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


def test_mlops_api_single_and_batch(client: httpx.Client) -> None:
    text = {
        "modelId": "threats",
        "input": {"description": "phishing exploit", "context": "ransomware"},
    }
    answer = client.post("/mlops/predict", json=text).json()
    assert answer["prediction"] == "threat"
    assert answer["predictionId"]
    assert set(answer["probabilities"]) == {"benign", "threat"}
    batch = {"requests": [{"modelId": "fraud:1.0.0", "input": RECORD}, text]}
    responses = client.post("/mlops/predict/batch", json=batch).json()["responses"]
    assert [r["prediction"] for r in responses] == ["fraud", "threat"]
    assert responses[0]["version"] == "1.0.0"
    listed = client.get("/mlops/models").json()["models"]
    assert {m["name"] for m in listed} == {"fraud", "threats"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/v1/models/nope:predict", {"instances": [RECORD]}, 404, "not found"),
        (
            "post",
            "/v1/models/fraud/versions/9.9.9:predict",
            {"instances": [RECORD]},
            404,
            "no version 9.9.9",
        ),
        ("post", "/v1/models/fraud:predict", {"instances": [[1, 2]]}, 400, "takes 4"),
        ("post", "/v1/models/fraud:predict", {"instancez": []}, 400, "instances"),
        ("post", "/v1/models/fraud:predict", {"instances": 3}, 400, "must be a list"),
        ("post", "/v1/models/fraud:predict", {"instances": [{"amount": 1}]}, 400, "no column"),
        (
            "post",
            "/v1/models/fraud:predict",
            {"instances": [{**RECORD, "amount": "lots"}]},
            400,
            "numeric",
        ),
        (
            "post",
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
            400,
            "needs 8 values",
        ),
        (
            "post",
            "/v2/models/fraud/infer",
            {"inputs": [{"name": "amount", "shape": [1], "datatype": "FP99", "data": [1]}]},
            400,
            "not supported",
        ),
        ("post", "/mlops/predict", {"modelId": "threats", "input": {}}, 400, "description"),
        ("get", "/v2/models/nope", None, 404, "not found"),
        ("get", "/mlops/models/nope/drift", None, 404, "not found"),
    ],
)
def test_bad_input_gets_a_clear_status(
    client: httpx.Client, method: str, path: str, body: object, status: int, message: str
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_malformed_and_oversized_bodies(client: httpx.Client) -> None:
    bad = client.post(
        "/v1/models/fraud:predict", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]
    big = client.post("/v1/models/fraud:predict", json={"instances": [RECORD] * 3000})
    assert big.status_code == 413
    assert client.get("/v2/health/live").status_code == 200


def test_corrupted_artifact_is_refused_with_503(
    repository: Path, tmp_path: Path, client: httpx.Client
) -> None:
    import shutil

    broken = repository / "fraud" / "0.9.0"
    shutil.copytree(repository / "fraud" / "1.0.0", broken)
    weights = broken / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    manifest = (broken / "manifest.json").read_text().replace('"1.0.0"', '"0.9.0"')
    (broken / "manifest.json").write_text(manifest)
    try:
        for _ in range(2):  # the failure is remembered, not retried on every request
            answer = client.post(
                "/v1/models/fraud/versions/0.9.0:predict", json={"instances": [RECORD]}
            )
            assert answer.status_code == 503
            assert "does not match the manifest" in answer.json()["error"]
        ok = client.post("/v1/models/fraud/versions/1.0.0:predict", json={"instances": [RECORD]})
        assert ok.status_code == 200
    finally:
        shutil.rmtree(broken)


def test_concurrent_requests_are_batched(client: httpx.Client, server: ServerProcess) -> None:
    before = client.get("/metrics").text
    count0 = metric(before, "ml_batch_size_count", model="fraud", version="1.0.0")
    sum0 = metric(before, "ml_batch_size_sum", model="fraud", version="1.0.0")
    payloads = records(128, seed=5)

    def call(record: dict[str, object]) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            return c.post(
                "/v1/models/fraud/versions/1.0.0:predict", json={"instances": [record]}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(call, payloads))
    assert codes == [200] * 128
    after = client.get("/metrics").text
    batches = metric(after, "ml_batch_size_count", model="fraud", version="1.0.0") - count0
    items = metric(after, "ml_batch_size_sum", model="fraud", version="1.0.0") - sum0
    assert items == 128
    assert batches < 128  # some forward passes served several requests


def test_drift_of_shifted_inputs(client: httpx.Client) -> None:
    normal = client.post("/v1/models/threats:predict", json={"instances": ["x"]})  # warm path
    assert normal.status_code == 200
    for chunk in range(4):
        body = {"instances": records(50, seed=100 + chunk)}
        assert client.post("/v1/models/fraud/versions/1.0.0:predict", json=body).status_code == 200
        shifted = {"instances": records(50, seed=200 + chunk, shift=120.0)}
        assert (
            client.post("/v1/models/fraud/versions/1.1.0:predict", json=shifted).status_code == 200
        )
    stable = client.get("/mlops/models/fraud/drift", params={"version": "1.0.0"}).json()
    drifted = client.get("/mlops/models/fraud/drift", params={"version": "1.1.0"}).json()
    amount_stable = next(f for f in stable["features"] if f["name"] == "amount")
    amount_drifted = next(f for f in drifted["features"] if f["name"] == "amount")
    assert amount_stable["samples"] == 200
    assert amount_stable["drifted"] is False
    assert amount_drifted["drifted"] is True
    assert drifted["driftDetected"] is True
    text = client.get("/metrics").text
    assert metric(text, "ml_feature_drift_score", model="fraud", version="1.1.0") > 0.2
    assert metric(text, "ml_feature_drift_score", model="fraud", version="1.0.0") < 0.2


def test_feedback_gives_online_accuracy(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/models/fraud/versions/1.0.0:predict", json={"instances": [RECORD, RECORD]}
    ).json()
    first, second = answer["predictionIds"]
    right = client.post("/v1/feedback", json={"predictionId": first, "trueLabel": "fraud"}).json()
    assert right["correct"] is True
    wrong = client.post("/v1/feedback", json={"predictionId": second, "trueLabel": "ok"}).json()
    assert wrong["correct"] is False
    assert wrong["samples"] == right["samples"] + 1
    again = client.post("/v1/feedback", json={"predictionId": first, "trueLabel": "fraud"})
    assert again.status_code == 404
    text = client.get("/metrics").text
    assert metric(text, "ml_online_accuracy", model="fraud", version="1.0.0") == pytest.approx(
        wrong["accuracy"]
    )
    total = metric(text, "ml_feedback_total", model="fraud", version="1.0.0")
    correct = metric(text, "ml_feedback_correct_total", model="fraud", version="1.0.0")
    assert correct / total == pytest.approx(wrong["accuracy"])


def test_metrics_carry_model_and_version_labels_only(client: httpx.Client) -> None:
    client.post("/v1/models/fraud/versions/1.0.0:predict", json={"instances": [RECORD]})
    text = client.get("/metrics").text
    for name in (
        "ml_prediction_latency_seconds_count",
        "ml_predictions_total",
        "ml_model_memory_usage_bytes",
    ):
        assert metric(text, name, model="fraud", version="1.0.0") > 0
    assert "ml_system_cpu_usage_percent" in text
    assert "ml_prediction_errors_total" in text
    assert metric(text, "ml_models_loaded") >= 1
    labels = set(re.findall(r"^ml_\w+\{([^}]*)\}", text, re.M))
    for label_set in labels:
        assert {part.split("=")[0] for part in label_set.split(",")} <= {"model", "version", "le"}


def test_openapi_docs(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v2/models/{name}/infer" in paths
    assert "/mlops/predict" in paths


def test_a_version_whose_manifest_is_not_the_registered_one_is_not_served(
    repository: Path, tmp_path: Path
) -> None:
    """MODEL_DIGESTS holds what the ModelVersions recorded: 1.1.0's matches and serves, 1.0.0's
    does not (its manifest was rewritten after registration) and is refused with the reason."""
    registered = digest_of((repository / "fraud" / "1.1.0" / MANIFEST_FILE).read_bytes())
    recorded = "sha256:" + "0" * 64
    expected = {("fraud", "1.0.0"): recorded, ("fraud", "1.1.0"): registered}
    with (
        run_server(
            repository,
            host="127.0.0.3",
            log_dir=tmp_path,
            ready_path="/v2/health/live",
            PRELOAD_MODELS="fraud:1.0.0",
            MODEL_DIGESTS=model_digests_value(expected),
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 503
        assert f"not {recorded} as the ModelVersion records" in ready.json()["reasons"][0]
        refused = client.post(
            "/v1/models/fraud/versions/1.0.0:predict", json={"instances": [RECORD]}
        )
        assert refused.status_code == 503
        assert "the artifact changed after it was registered" in refused.json()["error"]
        served = client.post(
            "/v1/models/fraud/versions/1.1.0:predict", json={"instances": [RECORD]}
        )
        assert served.status_code == 200
        assert served.json()["version"] == "1.1.0"


def test_sigterm_closes_idle_connections_and_exits_well_within_the_grace(
    repository: Path, tmp_path: Path
) -> None:
    """The front's shutdown on the real process: an idle kept-alive connection is closed and
    the process exits cleanly long before the 10 s grace, which only a request in progress
    may use (answering those is covered with the front's unit tests)."""
    ready = b"GET /v2/health/ready HTTP/1.1\r\nhost: x\r\n\r\n"
    with (
        run_server(
            repository, host="127.0.0.3", log_dir=tmp_path, PRELOAD_MODELS="fraud:1.0.0"
        ) as server,
        socket.create_connection((server.host, server.port), timeout=10) as idle,
    ):
        idle.sendall(ready)
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        server.process.terminate()
        assert server.process.wait(timeout=10) == 0, server.log()
        exited_in = time.monotonic() - started
        assert idle.recv(4096) == b""  # closed by the server, not left to time out
    assert exited_in < 5, server.log()
