"""What the server reads off the wire: JSON, v2 requests, binary tensors and number checks."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from mlops_serving.binary_tensors import decode_tensor, encode_float32, encode_strings
from mlops_serving.errors import InvalidInputError
from mlops_serving.inference import InferenceResult
from mlops_serving.json_body import decode_json, encode_json
from mlops_serving.served_model import Prediction
from mlops_serving.tensor_values import check_record_numbers, check_tensor_values
from mlops_serving.v2_infer import encode_answer, parse_infer

pytestmark = pytest.mark.unit


def test_json_literals_python_writes_reach_the_value_checks() -> None:
    assert decode_json(b'{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    value = decode_json(b"[NaN, Infinity, -Infinity, 1e999]")
    assert math.isnan(value[0])
    assert value[1:] == [math.inf, -math.inf, math.inf]
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        decode_json(b"{nope")
    assert encode_json({"p": [math.nan]}) == b'{"p":[null]}'  # never invalid JSON


@pytest.mark.parametrize(
    ("datatype", "values", "message"),
    [
        ("FP32", [1.0, math.inf], r"'t' at \[0, 1\]: Infinity is not finite for FP32"),
        ("FP32", [1e39, 0.0], r"at \[0, 0\]: 1e\+39 is not in range for FP32"),
        ("FP16", [70000, 0], r"70000 is beyond the FP16 range"),
        ("FP64", [1e308, 0.0], r"1e\+308 is not in range for FP64"),
        ("FP32", ["1", 0.0], r"FP32 data must be numbers, got str"),
        ("INT8", [0.5, 1], r"at \[0, 0\]: 0.5 is not a INT8 \(whole numbers from -128 to 127\)"),
        ("INT8", [1, 128], r"at \[0, 1\]: 128 is not a INT8"),
        ("UINT8", [-1, 0], r"-1 is not a UINT8"),
        ("INT64", [True, 1], r"True is not a INT64"),
        ("INT32", [math.nan, 1], r"nan is not a INT32"),
        ("BOOL", [1, True], r"BOOL data must be true or false, got 1"),
        ("BYTES", ["a", 1], r"BYTES data must be strings"),
        ("COMPLEX", [1, 2], r"not supported"),
    ],
)
def test_tensor_values_that_do_not_fit_their_datatype(
    datatype: str, values: list[object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_tensor_values("t", [1, 2], datatype, list(values))


def test_tensor_values_that_fit() -> None:
    assert check_tensor_values("t", [3], "INT8", [1.0, -128, 127]) == [1, -128, 127]
    kept = check_tensor_values("t", [3], "FP32", [None, math.nan, 3.4e38])
    assert kept[0] is None  # null and NaN both mean "missing"
    assert math.isnan(kept[1])
    assert check_tensor_values("t", [2], "BOOL", [True, False]) == [True, False]


def test_record_numbers() -> None:
    check_record_numbers({"a": 1.0, "b": None, "c": math.nan, "d": "x", "e": 10**30}, "r")
    with pytest.raises(InvalidInputError, match=r"r\.a: -Infinity is not a finite"):
        check_record_numbers({"a": -math.inf}, "r")
    with pytest.raises(InvalidInputError, match=r"r\.b: \d+ is beyond the float32 range"):
        check_record_numbers({"b": 10**40}, "r")


def test_binary_tensors_decode_like_numpy_writes_them() -> None:
    data = np.array([[1.5, -2.0], [math.inf, 0.25]], dtype="<f4")
    assert decode_tensor("x", [2, 2], "FP32", data.tobytes()) == [1.5, -2.0, math.inf, 0.25]
    assert decode_tensor("x", [3], "INT16", np.array([1, -2, 3], "<i2").tobytes()) == [1, -2, 3]
    strings = encode_strings(["vip", "", "ünï"])
    assert strings[:7] == struct.pack("<I", 3) + b"vip"
    assert decode_tensor("s", [3], "BYTES", strings) == ["vip", "", "ünï"]
    with pytest.raises(InvalidInputError, match="needs 16 bytes of binary data, got 12"):
        decode_tensor("x", [2, 2], "FP32", b"\0" * 12)
    with pytest.raises(InvalidInputError, match="cut short"):
        decode_tensor("s", [1], "BYTES", struct.pack("<I", 9) + b"abc")
    with pytest.raises(InvalidInputError, match="needs 2 elements, got 3"):
        decode_tensor("s", [2], "BYTES", strings)
    assert np.frombuffer(encode_float32([0.5, 1.0]), dtype="<f4").tolist() == [0.5, 1.0]


def _binary_request(outputs: object = None, **parameters: object) -> tuple[bytes, int]:
    tensor = {
        "name": "x",
        "shape": [1, 2],
        "datatype": "FP32",
        "parameters": {"binary_data_size": 8},
    }
    body: dict[str, object] = {"id": "q", "inputs": [tensor]}
    if parameters:
        body["parameters"] = parameters
    if outputs is not None:
        body["outputs"] = outputs
    header = json.dumps(body).encode()
    return header + np.array([1.0, 2.0], "<f4").tobytes(), len(header)


RESULT = InferenceResult(
    model="m",
    version="1",
    predictions=[Prediction("b", [0.25, 0.75])],
    prediction_ids=["p1"],
    class_labels=["a", "b"],
    latency_s=0.001,
)


def test_binary_inputs_and_the_outputs_asked_for() -> None:
    raw, length = _binary_request(binary_data_output=True)
    call = parse_infer(raw, length)
    assert call.tensors == [("x", [1, 2], "FP32", [1.0, 2.0])]
    assert call.outputs == {"label": True, "probabilities": True}
    body, headers = encode_answer(call, RESULT)
    size = int(dict(headers)[b"inference-header-content-length"])
    header = json.loads(body[:size])
    assert header["id"] == "q"
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [5, 8]
    assert body[size : size + 5] == struct.pack("<I", 1) + b"b"
    assert np.frombuffer(body[size + 5 :], "<f4").tolist() == [0.25, 0.75]
    mixed = [{"name": "probabilities", "parameters": {"binary_data": False}}]
    raw, length = _binary_request(outputs=mixed, binary_data_output=True)
    body, headers = encode_answer(parse_infer(raw, length), RESULT)
    assert dict(headers)[b"content-type"] == b"application/json"
    assert json.loads(body)["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]}
    ]


ONE_INPUT = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}'


@pytest.mark.parametrize(
    ("raw", "length", "message"),
    [
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}', None, "has no data"),
        (b'{"inputs": {}}', None, "inputs must be a list"),
        (b'{"inputs": [], "extra": 1}', None, r"unknown fields \['extra'\]"),
        (
            b'{"inputs": [{"name": "x", "shape": [1.5], "datatype": "FP32", "data": [1]}]}',
            None,
            "shape must be",
        ),
        (
            ONE_INPUT[:-1] + b', "outputs": [{"name": "z"}]}',
            None,
            "unknown output 'z'",
        ),
        (
            ONE_INPUT + b"\0\0",
            len(ONE_INPUT),
            "2 bytes of binary data follow",
        ),
        (b"{}", 10, "outside the body"),
    ],
)
def test_malformed_v2_requests(raw: bytes, length: int | None, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_infer(raw, length)


def test_prediction_ids_are_random_hex_and_unique_across_refills() -> None:
    from mlops_core.prediction_ids import PREDICTION_ID_MAX, version_of_prediction
    from mlops_serving.feedback import new_prediction_id

    ids = [new_prediction_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    made = new_prediction_id("1.2.0-rc.1")
    random_hex, _, version = made.partition("@")
    assert len(random_hex) == 32
    assert int(random_hex, 16) >= 0
    assert version_of_prediction(made) == version == "1.2.0-rc.1"
    assert len(new_prediction_id("9" * 64)) == PREDICTION_ID_MAX


def test_the_direct_routes_answer_a_bug_and_an_oversized_body_in_the_usual_shape() -> None:
    import asyncio

    from mlops_serving.fast_path import PredictFastPath

    def broken() -> object:
        raise RuntimeError("a bug")

    async def call(path: str, chunks: list[bytes]) -> tuple[int, object]:
        fast = PredictFastPath(None, inference=broken, max_bytes=10)  # type: ignore[arg-type]
        sent: list[dict[str, object]] = []
        pending = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, object]:
            return pending.pop(0)

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": []}
        await fast(scope, receive, send)  # type: ignore[arg-type]
        body = sent[1]["body"]
        assert isinstance(body, bytes)
        return int(str(sent[0]["status"])), json.loads(body)

    status, body = asyncio.run(call("/v2/models/m/infer", [b"{}"]))
    assert (status, body) == (500, {"error": "internal error: RuntimeError"})
    status, body = asyncio.run(call("/v1/models/m:predict", [b"123456", b"789012"]))  # chunked
    assert status == 413
    assert "larger than the limit of 10 bytes" in str(body)


def test_the_feedback_body_names_its_prediction_where_the_router_reads_it() -> None:
    from mlops_core.prediction_ids import FEEDBACK_ID_FIELD
    from mlops_serving.protocol_v1 import FeedbackRequest

    body = FeedbackRequest.model_validate({FEEDBACK_ID_FIELD: "a@1.0.0", "trueLabel": "x"})
    assert body.prediction_id == "a@1.0.0"
