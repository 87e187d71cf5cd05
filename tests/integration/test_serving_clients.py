"""The model server as standard clients and careless callers meet it.

tritonclient (the Open Inference Protocol's reference client) with JSON and binary tensors,
bodies without a JSON ``Content-Type``, non-finite and out-of-range numbers on all three
protocols, chunked bodies over the limit, and the framework's own errors: every answer is valid
JSON, and every error is ``{"error": ...}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from test_serving_models import ServerProcess, run_server, train_tabular, train_text
from tritonclient.utils import InferenceServerException

from mlops_core.storage import join_uri, open_store

pytestmark = pytest.mark.integration

RECORD = {"amount": 150.0, "age": 30, "score": 1.0, "segment": "vip"}
LIMIT = 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("models")
    train_tabular(open_store(join_uri(str(root), "fraud", "1.0.0")), version="1.0.0")
    train_text(open_store(join_uri(str(root), "threats", "1.0.0")))
    with run_server(
        root,
        host="127.0.0.4",
        log_dir=tmp_path_factory.mktemp("logs"),
        PRELOAD_MODELS="fraud:1.0.0,threats:1.0.0",
        MAX_REQUEST_BYTES=str(LIMIT),
    ) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def oip(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(f"{server.host}:{server.port}")
    try:
        yield client
    finally:
        client.close()


def strict_json(response: httpx.Response) -> Any:
    """The body as JSON, refusing NaN and Infinity (which are not JSON)."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in {response.text[:200]}")

    return json.loads(response.content, parse_constant=refuse)


def error_of(response: httpx.Response) -> str:
    body = strict_json(response)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str)
    return body["error"]


def fraud_inputs(*, binary: bool) -> list[triton.InferInput]:
    columns = {
        "amount": np.array([150.0, 50.0], dtype=np.float32),
        "age": np.array([30, 40], dtype=np.int64),
        "score": np.array([1.0, -1.5], dtype=np.float32),
        "segment": np.array([b"vip", b"retail"], dtype=np.object_),
    }
    inputs = []
    for name, values in columns.items():
        datatype = {"float32": "FP32", "int64": "INT64", "object": "BYTES"}[str(values.dtype)]
        tensor = triton.InferInput(name, list(values.shape), datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_json_tensors(oip: triton.InferenceServerClient) -> None:
    assert oip.is_server_live()
    assert oip.is_model_ready("fraud")
    assert oip.get_model_metadata("fraud")["outputs"][0]["name"] == "label"
    outputs = [
        triton.InferRequestedOutput("label", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = oip.infer("fraud", fraud_inputs(binary=False), outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    assert result.as_numpy("label").tolist() == ["fraud", "ok"]  # JSON BYTES come back as text
    assert result.as_numpy("probabilities").shape == (2, 2)


def test_tritonclient_binary_tensors_in_and_out(oip: triton.InferenceServerClient) -> None:
    result = oip.infer("fraud", fraud_inputs(binary=True), model_version="1.0.0")
    assert result.as_numpy("label").tolist() == [b"fraud", b"ok"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32
    assert np.allclose(probabilities.reshape(2, 2).sum(axis=1), 1.0, atol=1e-5)
    text = triton.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(
        np.array([b"malware breach exploit", b"weekly lunch meeting"], dtype=np.object_)
    )
    answer = oip.infer("threats", [text], outputs=[triton.InferRequestedOutput("label")])
    assert answer.as_numpy("label").tolist() == [b"threat", b"benign"]


def test_tritonclient_sees_clear_errors(oip: triton.InferenceServerClient) -> None:
    bad = triton.InferInput("amount", [1], "FP32")
    bad.set_data_from_numpy(np.array([np.inf], dtype=np.float32), binary_data=True)
    with pytest.raises(InferenceServerException, match="'amount' at \\[0\\]: Infinity"):
        oip.infer("fraud", [bad])
    with pytest.raises(InferenceServerException, match="not found"):
        oip.infer("nope", fraud_inputs(binary=False))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/models/fraud:predict", {"instances": [RECORD]}),
        (
            "/v2/models/fraud/infer",
            {
                "inputs": [
                    {
                        "name": k,
                        "shape": [1],
                        "datatype": "BYTES" if k == "segment" else "FP64",
                        "data": [v],
                    }
                    for k, v in RECORD.items()
                ]
            },
        ),
        ("/mlops/predict", {"modelId": "fraud", "input": RECORD}),
    ],
)
@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
def test_json_bodies_without_a_json_content_type(
    client: httpx.Client, path: str, body: object, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    answer = client.post(path, content=json.dumps(body).encode(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert "fraud" in answer.text


def _v2(
    name: str, datatype: str, data: list[Any], shape: list[int] | None = None
) -> dict[str, Any]:
    tensors = [
        {"name": k, "shape": [1], "datatype": "BYTES" if k == "segment" else "FP32", "data": [v]}
        for k, v in RECORD.items()
        if k != name
    ]
    tensors.append(
        {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}
    )
    return {"inputs": tensors}


@pytest.mark.parametrize(
    ("path", "raw", "message"),
    [
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("amount", "FP32", [math.inf])),
            "'amount' at [0]: Infinity",
        ),
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("amount", "FP64", [-math.inf])),
            "'amount' at [0]: -Infinity",
        ),
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("amount", "FP32", [1e308])),
            "'amount' at [0]: 1e+308",
        ),
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("amount", "FP64", [1e308])),
            "'amount' at [0]: 1e+308",
        ),
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("age", "INT8", [2.5])),
            "'age' at [0]: 2.5 is not a INT8",
        ),
        (
            "/v2/models/fraud/infer",
            json.dumps(_v2("age", "INT8", [300])),
            "whole numbers from -128 to 127",
        ),
        ("/v2/models/fraud/infer", json.dumps(_v2("amount", "FP32", [1e400])), "Infinity"),
        (
            "/v1/models/fraud:predict",
            json.dumps({"instances": [RECORD, {**RECORD, "score": math.inf}]}),
            "instances[1].score: Infinity",
        ),
        (
            "/v1/models/fraud:predict",
            '{"instances": [[1e999, 30, 1.0, "vip"]]}',
            "instances[0].amount: Infinity",
        ),
        (
            "/mlops/predict",
            json.dumps({"modelId": "fraud", "input": {**RECORD, "amount": -math.inf}}),
            "input.amount: -Infinity",
        ),
        (
            "/mlops/predict",
            json.dumps({"modelId": "fraud", "input": {**RECORD, "amount": 1e308}}),
            "input.amount: 1e+308",
        ),
        (
            "/v1/models/fraud:predict",
            json.dumps({"instances": [RECORD, {**RECORD, "score": 3.4e38}]}),
            "instance 1: 'score' is out of range after scaling",
        ),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused(
    client: httpx.Client, path: str, raw: str, message: str
) -> None:
    answer = client.post(path, content=raw.encode())
    assert answer.status_code == 400, answer.text
    assert message in error_of(answer)


def test_nan_and_null_both_mean_missing_on_every_protocol(client: httpx.Client) -> None:
    """A missing value is filled with the training mean: NaN and null agree on v1, v2, /mlops."""
    answers = []
    for missing in ("NaN", "null"):
        record = json.dumps({**RECORD, "score": None}).replace("null", missing)
        v1 = client.post("/v1/models/fraud:predict", content=f'{{"instances": [{record}]}}')
        mlops = client.post("/mlops/predict", content=f'{{"modelId": "fraud", "input": {record}}}')
        body = json.dumps(_v2("score", "FP32", [None])).replace("null", missing)
        v2 = client.post("/v2/models/fraud/infer", content=body)
        for response in (v1, mlops, v2):
            assert response.status_code == 200, response.text
        answers.append(
            (
                strict_json(v1)["probabilities"][0],
                list(strict_json(mlops)["probabilities"].values()),
                strict_json(v2)["outputs"][1]["data"],
            )
        )
    reference = answers[0][0]
    for triple in answers:
        for probabilities in triple:
            assert probabilities == pytest.approx(reference, abs=1e-6)
    integer = client.post("/v2/models/fraud/infer", content=json.dumps(_v2("age", "INT64", [None])))
    assert integer.status_code == 400
    assert "'age' at [0]: None is not a INT64" in error_of(integer)


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"instances": ['
    sent = 0
    while sent < size:
        yield b'"' + b"x" * 8000 + b'",'
        sent += 8003
    yield b'"x"]}'


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/fraud:predict",
        "/v2/models/fraud/infer",
        "/v2/models/fraud/versions/1.0.0/infer",
        "/mlops/predict",
        "/mlops/predict/batch",
        "/v1/feedback",
    ],
)
def test_oversized_bodies_get_413_chunked_or_not(client: httpx.Client, path: str) -> None:
    chunked = client.post(path, content=_chunks(2 * LIMIT))  # no Content-Length
    assert chunked.status_code == 413, chunked.text
    assert "larger than the limit" in error_of(chunked)
    declared = client.post(path, content=b"x" * (LIMIT + 1))
    assert declared.status_code == 413
    assert "larger than the limit" in error_of(declared)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("get", "/nowhere", None, 404, "no such path: /nowhere"),
        ("get", "/v2/models/fraud/infer", None, 405, "GET is not allowed"),
        ("delete", "/mlops/predict", None, 405, "DELETE is not allowed"),
        ("post", "/mlops/predict", b'{"modelId": "fraud"}', 400, "input: Field required"),
        ("post", "/mlops/predict", b"[1]", 400, "invalid request"),
        ("post", "/mlops/predict/batch", b'{"requests": []}', 400, "requests"),
        ("post", "/v1/feedback", b'{"predictionId": ""}', 400, "predictionId"),
        ("post", "/v1/feedback", b"{nope", 400, "not valid JSON"),
        ("post", "/v2/models/fraud/infer", b'{"inputs": [], "x": 1}', 400, "unknown fields"),
        ("post", "/v2/models/fraud/infer", b'{"inputs": [{"name": "amount"}]}', 400, "shape"),
        ("get", "/mlops/models/fraud/drift?version=" + "9" * 100, None, 400, "version"),
    ],
)
def test_every_error_has_the_projects_shape(
    client: httpx.Client, method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    response = client.request(method, path, content=body)
    assert response.status_code == status, response.text
    assert message in error_of(response)


def test_binary_request_errors_name_the_problem(client: httpx.Client) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "m",
                    "shape": [1, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 16},
                }
            ]
        }
    ).encode()
    short = client.post(
        "/v2/models/fraud/infer",
        content=header + b"\0" * 8,
        headers={"inference-header-content-length": str(len(header))},
    )
    assert short.status_code == 400
    assert "binary_data_size 16" in error_of(short)
    outside = client.post(
        "/v2/models/fraud/infer",
        content=header,
        headers={"inference-header-content-length": "99999"},
    )
    assert "outside the body" in error_of(outside)


def test_docs_are_served_without_a_cdn(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000
    schema = client.get("/openapi.json").json()
    infer = schema["paths"]["/v2/models/{name}/infer"]["post"]
    assert "inputs" in infer["requestBody"]["content"]["application/json"]["schema"]["properties"]
