"""Request bodies decoded and answers encoded as JSON, the same way on every route.

Decoding ignores ``Content-Type`` (KServe and Triton accept JSON without one; ``curl -d`` and
``tritonclient`` send none or a form type). It uses orjson, and falls back to the standard
library only for bodies orjson refuses, so that the non-standard ``NaN``/``Infinity`` literals
that Python and numpy clients write reach the value checks, which name the input and position.
Encoding uses orjson, which never writes NaN or Infinity: every answer is valid JSON.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from mlops_serving.errors import InvalidInputError, validation_message

M = TypeVar("M", bound=BaseModel)

JSON_CONTENT_TYPE = b"application/json"


def decode_json(raw: bytes | memoryview) -> Any:
    """The JSON value of ``raw``; InvalidInputError (400) saying where it is malformed."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        first = exc
    try:
        return json.loads(bytes(raw))
    except (ValueError, RecursionError):
        raise InvalidInputError(f"request body is not valid JSON: {first}") from None


def encode_json(value: Any) -> bytes:
    """``value`` as compact JSON bytes (NaN and Infinity cannot appear in the output)."""
    return orjson.dumps(value)


def decode_model(raw: bytes, model: type[M]) -> M:
    """``raw`` as ``model``; a 400 that names the fields when it does not fit."""
    try:
        return model.model_validate(decode_json(raw))
    except ValidationError as exc:
        raise InvalidInputError(validation_message(exc.errors())) from None


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads its body itself."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    schema = inline(schema)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def json_response(value: Any, status: int = 200) -> Response:
    return Response(encode_json(value), status_code=status, media_type="application/json")
