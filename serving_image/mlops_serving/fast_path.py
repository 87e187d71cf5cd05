"""A direct ASGI route for KServe v1 ``:predict``, the busiest path, in front of FastAPI.

It answers exactly what the FastAPI route answers (both call ``protocol_v1.v1_predict``), but
skips the framework's per-request routing and dependency machinery, which on a small model costs
more than the model itself. It sits outermost and enforces the body limit itself: a declared
``Content-Length`` over the limit is refused before reading, a longer body as soon as it passes
the limit. Everything else falls through to the FastAPI app.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_serving.errors import PayloadTooLargeError, ServingError
from mlops_serving.inference import Inference
from mlops_serving.protocol_v1 import v1_predict

log = logging.getLogger(__name__)

V1_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+))?:predict$")
JSON_HEADERS = [(b"content-type", b"application/json")]


class V1FastPath:
    def __init__(self, app: ASGIApp, *, inference: Callable[[], Inference], max_bytes: int) -> None:
        self.app = app
        self.inference = inference
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = V1_PREDICT.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        chunks = []
        size = 0
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            size = int(declared)
        while size <= self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > self.max_bytes or not message.get("more_body", False):
                break
        status = 200
        try:
            if size > self.max_bytes:
                raise PayloadTooLargeError(
                    f"request body is larger than the limit of {self.max_bytes} bytes"
                )
            answer: object = await v1_predict(
                self.inference(), match.group(1), match.group(2), b"".join(chunks)
            )
        except ServingError as exc:
            status, answer = exc.status, {"error": str(exc)}
            if status >= 500:
                log.warning("%s: %s", type(exc).__name__, exc)
        body = json.dumps(answer, separators=(",", ":")).encode()
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
