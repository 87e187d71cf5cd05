"""v1 ``:predict`` and v2 ``infer``, the busiest paths, answered ahead of FastAPI.

``answer_prediction`` answers exactly what the FastAPI routes answer (all call ``v1_predict``
and ``v2_infer``), without the framework's per-request routing, request objects and dependency
machinery, which on a small model cost more than the model itself. The model server's HTTP
front (``server_front``) calls it directly; ``PredictFastPath`` is the same in front of the
ASGI app, for a server run under an ASGI server. It sits outermost and enforces the body limit
itself: a declared ``Content-Length`` over the limit is refused before reading, a longer
(chunked) body as soon as it passes the limit. Everything else falls through to the FastAPI app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_serving.errors import PayloadTooLargeError, ServingError, too_large_message
from mlops_serving.http_front import Headers
from mlops_serving.inference import Inference
from mlops_serving.json_body import JSON_CONTENT_TYPE, encode_json
from mlops_serving.protocol_v1 import v1_predict
from mlops_serving.v2_infer import header_length_of, v2_infer

log = logging.getLogger(__name__)

V1_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+))?:predict$")
V2_INFER = re.compile(r"^/v2/models/([^/:]+)(?:/versions/([^/:]+))?/infer$")


class PredictionRoute(NamedTuple):
    v2: bool
    name: str
    version: str | None


def prediction_route(path: str) -> PredictionRoute | None:
    """The model and version a (percent-decoded) POST path asks to predict, or None."""
    match = V1_PREDICT.match(path)
    if match is not None:
        return PredictionRoute(False, match.group(1), match.group(2))
    match = V2_INFER.match(path)
    if match is not None:
        return PredictionRoute(True, match.group(1), match.group(2))
    return None


async def answer_prediction(
    inference: Callable[[], Inference], route: PredictionRoute, headers: Headers, raw: bytes
) -> tuple[int, Headers, bytes]:
    """Status, headers and body; errors in the usual ``{"error": ...}`` shape."""
    try:
        if route.v2:
            length = header_length_of(headers)
            body, answer_headers = await v2_infer(
                inference(), route.name, route.version, raw, length
            )
            return 200, answer_headers, body
        body = encode_json(await v1_predict(inference(), route.name, route.version, raw))
        return 200, [(b"content-type", JSON_CONTENT_TYPE)], body
    except ServingError as exc:
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        return exc.status, [(b"content-type", JSON_CONTENT_TYPE)], encode_json({"error": str(exc)})
    except Exception as exc:  # a bug costs one request a 500 in the usual shape, not a page
        log.exception("predicting with %s failed", route.name)
        body = encode_json({"error": f"internal error: {type(exc).__name__}"})
        return 500, [(b"content-type", JSON_CONTENT_TYPE)], body


class PredictFastPath:
    def __init__(self, app: ASGIApp, *, inference: Callable[[], Inference], max_bytes: int) -> None:
        self.app = app
        self.inference = inference
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and scope["method"] == "POST":
            route = prediction_route(scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        chunks = []
        size = 0
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                size = int(value)
        while size <= self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if size > self.max_bytes:
            error = PayloadTooLargeError(too_large_message(self.max_bytes))
            status, headers = error.status, [(b"content-type", JSON_CONTENT_TYPE)]
            body = encode_json({"error": str(error)})
        else:
            raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            status, headers, body = await answer_prediction(
                self.inference, route, scope["headers"], raw
            )
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
