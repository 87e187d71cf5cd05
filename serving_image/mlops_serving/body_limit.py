"""An ASGI middleware answering 413 to request bodies over a size limit, on every route."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops_serving.errors import PayloadTooLargeError, too_large_message


class BodyLimitMiddleware:
    """Reads a request's whole body before the app sees it: a declared ``Content-Length`` over
    the limit is refused before reading, a chunked body as soon as it passes the limit, both
    with 413. The app then receives the body in one message, so that no framework code can
    turn an over-long body into some other error."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send)
                return
        chunks = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"error": too_large_message(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
    """A request's whole body, for the routes answered ahead of the framework: None when the
    client left before sending it, PayloadTooLargeError (413) for a declared ``Content-Length``
    over ``max_bytes`` (before reading) or a longer body (as soon as it passes the limit)."""
    for key, value in scope["headers"]:
        if key == b"content-length" and value.isdigit() and int(value) > max_bytes:
            raise PayloadTooLargeError(too_large_message(max_bytes))
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(too_large_message(max_bytes))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
