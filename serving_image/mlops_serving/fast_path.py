"""Direct ASGI routes for v1 ``:predict`` and v2 ``infer``, the busiest paths, in front of FastAPI.

They answer exactly what the FastAPI routes answer (both call ``v1_predict`` and ``v2_infer``),
but skip the framework's per-request routing, request objects and dependency machinery, which on
a small model cost more than the model itself. This sits outermost and enforces the body limit
itself: a declared ``Content-Length`` over the limit is refused before reading, a longer
(chunked) body as soon as it passes the limit. Everything else falls through to the FastAPI app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from mlops_serving.errors import PayloadTooLargeError, ServingError, too_large_message
from mlops_serving.inference import Inference
from mlops_serving.json_body import JSON_CONTENT_TYPE, encode_json
from mlops_serving.protocol_v1 import v1_predict
from mlops_serving.v2_infer import Headers, header_length_of, v2_infer

log = logging.getLogger(__name__)

V1_PREDICT = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+))?:predict$")
V2_INFER = re.compile(r"^/v2/models/([^/:]+)(?:/versions/([^/:]+))?/infer$")


class PredictFastPath:
    def __init__(self, app: ASGIApp, *, inference: Callable[[], Inference], max_bytes: int) -> None:
        self.app = app
        self.inference = inference
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        v2 = False
        match = V1_PREDICT.match(path)
        if match is None:
            match = V2_INFER.match(path)
            v2 = True
            if match is None:
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
        status = 200
        headers: Headers
        try:
            if size > self.max_bytes:
                raise PayloadTooLargeError(too_large_message(self.max_bytes))
            raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            name, version = match.group(1), match.group(2)
            if v2:
                length = header_length_of(scope["headers"])
                body, headers = await v2_infer(self.inference(), name, version, raw, length)
            else:
                body = encode_json(await v1_predict(self.inference(), name, version, raw))
                headers = [(b"content-type", JSON_CONTENT_TYPE)]
        except ServingError as exc:
            status = exc.status
            body = encode_json({"error": str(exc)})
            headers = [(b"content-type", JSON_CONTENT_TYPE)]
            if status >= 500:
                log.warning("%s: %s", type(exc).__name__, exc)
        except Exception as exc:  # a bug costs one request a 500 in the usual shape, not a page
            log.exception("answering %s failed", path)
            status = 500
            body = encode_json({"error": f"internal error: {type(exc).__name__}"})
            headers = [(b"content-type", JSON_CONTENT_TYPE)]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
