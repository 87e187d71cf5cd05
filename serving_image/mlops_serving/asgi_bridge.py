"""An ASGI app behind the HTTP front (``http_front``): its lifespan, and whole requests in and
whole answers out.

The model server answers its busiest paths itself and everything else (health, metadata,
metrics, explanations, the /mlops API) through its FastAPI app, which this runs: the lifespan
at start and stop, and each request as one ``http.request`` message, the answer gathered from
the app's ``send`` until its last body part. No route the app serves streams its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message

from mlops_serving.http_front import Answer, Headers, Request, error

log = logging.getLogger(__name__)

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
DROPPED_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"connection"})


def decoded_path(path: str) -> str:
    """The path as ASGI and the routes see it: percent-decoded."""
    return unquote(path) if "%" in path else path


class AsgiBridge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}  # the lifespan's state, copied into each request
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._replies: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run the app's lifespan startup; raise when the app says it failed."""
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        self._lifespan = asyncio.ensure_future(self.app(scope, self._inbox.get, self._replies.put))
        reply = await self._lifespan_step("lifespan.startup")
        if reply["type"] == "lifespan.startup.failed":
            with contextlib.suppress(Exception):  # the app re-raises what it reported
                await self._lifespan
            raise RuntimeError(f"the app failed to start: {reply.get('message', '')}")

    async def stop(self) -> None:
        if self._lifespan is None or self._lifespan.done():
            return
        reply = await self._lifespan_step("lifespan.shutdown")
        if reply["type"] == "lifespan.shutdown.failed":
            log.error("the app failed to stop: %s", reply.get("message", ""))
        await asyncio.wait({self._lifespan}, timeout=5)

    async def _lifespan_step(self, kind: str) -> Message:
        """Send ``kind``, then the app's reply; the app's own error when it raised instead."""
        assert self._lifespan is not None
        await self._inbox.put({"type": kind})
        reply = asyncio.ensure_future(self._replies.get())
        await asyncio.wait({reply, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            return reply.result()
        reply.cancel()
        self._lifespan.result()  # the app's exception, if it raised
        return {"type": f"{kind}.complete"}  # an app without a lifespan returns at once

    async def answer(self, request: Request) -> Answer:
        raw_path, _, query = request.target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": request.http_version,
            "method": request.method.decode("latin-1"),
            "scheme": "http",
            "path": decoded_path(request.path),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": request.headers,
            "client": request.client,
            "server": request.server,
            "state": self.state.copy(),
        }
        answered = asyncio.Event()
        body_sent = False
        status: int | None = None
        headers: Headers = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await answered.wait()  # the client is gone once the app has answered
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    if key.lower() not in DROPPED_HEADERS:
                        headers.append((key.lower(), value))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # the app's bug: a 500 for this request, not a lost connection
            log.exception("answering %s %s failed", scope["method"], scope["path"])
            if status is None:
                return error(500, f"internal error: {type(exc).__name__}")
        finally:
            answered.set()
        if status is None:
            return error(500, "the app sent no answer")
        return Answer(status, headers, b"".join(chunks))
