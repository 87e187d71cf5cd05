"""Open Inference Protocol ``infer``: the request parsed by hand, the answer as JSON or binary.

The body is read as JSON whatever its ``Content-Type`` (tritonclient and ``curl -d`` send none
or a form type). With ``Inference-Header-Content-Length`` the JSON header is followed by binary
tensor data (see ``binary_tensors``). Outputs are answered in binary when the request asks
(``parameters.binary_data_output``, or ``parameters.binary_data`` of a requested output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_serving.binary_tensors import decode_tensor, encode_float32, encode_strings
from mlops_serving.errors import InvalidInputError
from mlops_serving.feedback import new_prediction_id
from mlops_serving.http_front import Headers
from mlops_serving.inference import Inference, InferenceResult
from mlops_serving.inputs import v2_inputs_to_records
from mlops_serving.json_body import JSON_CONTENT_TYPE, decode_json, encode_json

OUTPUTS = ("label", "probabilities")
REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
MAX_INPUTS = 512
Tensor = tuple[str, list[int], str, Any]


@dataclass(frozen=True)
class InferCall:
    id: str | None
    tensors: list[Tensor]
    outputs: dict[str, bool]  # wanted output → answered in binary


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"invalid request: {where} must be an object")
    return value


def _parameters(value: dict[str, Any], where: str) -> dict[str, Any]:
    params = value.get("parameters")
    return {} if params is None else _object(params, f"{where}.parameters")


def _tensor(item: Any, index: int, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    tensor = _object(item, where)
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not 0 < len(name) <= 128:
        raise InvalidInputError(f"invalid request: {where}.name must be a string of 1-128 chars")
    if (
        not isinstance(shape, list)
        or not 0 < len(shape) <= 8
        or not all(type(d) is int for d in shape)
    ):
        raise InvalidInputError(f"invalid request: input {name!r}: shape must be 1-8 integers")
    if not isinstance(datatype, str):
        raise InvalidInputError(f"invalid request: input {name!r}: datatype must be a string")
    datatype = datatype.upper()
    size = _parameters(tensor, where).get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InvalidInputError(f"invalid request: input {name!r} has no data")
        return (name, shape, datatype, tensor["data"]), offset
    if type(size) is not int or size < 0 or offset + size > len(binary):
        raise InvalidInputError(
            f"input {name!r}: binary_data_size {size!r} does not fit the {len(binary) - offset} "
            "bytes of binary data left in the body"
        )
    if any(d < 0 for d in shape):
        raise InvalidInputError(f"input {name!r}: shape {shape} has a negative dimension")
    values = decode_tensor(name, shape, datatype, bytes(binary[offset : offset + size]))
    return (name, shape, datatype, values), offset + size


def _outputs(body: dict[str, Any]) -> dict[str, bool]:
    default = bool(_parameters(body, "request").get("binary_data_output", False))
    requested = body.get("outputs")
    if not requested:
        return dict.fromkeys(OUTPUTS, default)
    if not isinstance(requested, list):
        raise InvalidInputError("invalid request: outputs must be a list")
    wanted: dict[str, bool] = {}
    for index, item in enumerate(requested):
        output = _object(item, f"outputs[{index}]")
        name = output.get("name")
        if name not in OUTPUTS:
            raise InvalidInputError(
                f"unknown output {name!r}: this model outputs label and probabilities"
            )
        wanted[name] = bool(_parameters(output, f"outputs[{index}]").get("binary_data", default))
    return wanted


def parse_infer(raw: bytes, header_length: int | None) -> InferCall:
    """The request in ``raw``; InvalidInputError says what is wrong with it."""
    view = memoryview(raw)
    if header_length is None:
        header, binary = view, memoryview(b"")
    elif 0 <= header_length <= len(raw):
        header, binary = view[:header_length], view[header_length:]
    else:
        raise InvalidInputError(
            f"Inference-Header-Content-Length {header_length} is outside the body's "
            f"{len(raw)} bytes"
        )
    body = _object(decode_json(header), "the body")
    if not body.keys() <= REQUEST_FIELDS:
        unknown = set(body) - REQUEST_FIELDS
        raise InvalidInputError(f"invalid request: unknown fields {sorted(unknown)}")
    request_id = body.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 128):
        raise InvalidInputError("invalid request: id must be a string of at most 128 chars")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 0 < len(inputs) <= MAX_INPUTS:
        raise InvalidInputError(f"invalid request: inputs must be a list of 1-{MAX_INPUTS} tensors")
    tensors: list[Tensor] = []
    offset = 0
    for index, item in enumerate(inputs):
        tensor, offset = _tensor(item, index, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise InvalidInputError(
            f"{len(binary) - offset} bytes of binary data follow the inputs' binary_data_size"
        )
    return InferCall(request_id, tensors, _outputs(body))


def encode_answer(call: InferCall, result: InferenceResult) -> tuple[bytes, Headers]:
    """The answer body and its headers (``Inference-Header-Content-Length`` if binary)."""
    n = len(result.predictions)
    blobs: list[bytes] = []
    outputs: list[dict[str, Any]] = []
    for name, binary in call.outputs.items():
        if name == "label":
            values: list[Any] = [p.label for p in result.predictions]
            output: dict[str, Any] = {"name": "label", "datatype": "BYTES", "shape": [n]}
        else:
            values = [x for p in result.predictions for x in p.probabilities]
            shape = [n, len(result.class_labels)]
            output = {"name": "probabilities", "datatype": "FP32", "shape": shape}
        if binary:
            blob = encode_strings(values) if name == "label" else encode_float32(values)
            output["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            output["data"] = values
        outputs.append(output)
    header = encode_json(
        {
            "model_name": result.model,
            "model_version": result.version,
            "id": call.id or new_prediction_id(),
            "parameters": {"prediction_ids": result.prediction_ids},
            "outputs": outputs,
        }
    )
    if not blobs:
        return header, [(b"content-type", JSON_CONTENT_TYPE)]
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"inference-header-content-length", str(len(header)).encode()),
    ]
    return b"".join([header, *blobs]), headers


def header_length_of(headers: list[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key == b"inference-header-content-length":
            try:
                return int(value)
            except ValueError:
                raise InvalidInputError(
                    "Inference-Header-Content-Length must be a byte count"
                ) from None
    return None


async def v2_infer(
    inference: Inference, name: str, version: str | None, raw: bytes, header_length: int | None
) -> tuple[bytes, Headers]:
    """The answer to a v2 ``infer`` body (ServingError when it cannot be answered)."""
    call = parse_infer(raw, header_length)
    result = await inference.run(
        name, version, lambda config: v2_inputs_to_records(config, call.tensors)
    )
    return encode_answer(call, result)
