"""The router's HTTP/1.1 front: an asyncio protocol on the httptools parser.

The router sits on every request's path, so its front end is kept to what it needs: parse a
request, hand method, path, headers and body to ``RouterApp.answer``, write the answer back,
keep the connection alive when the client wants it. Requests pipelined on one connection are
answered in order. ``Expect: 100-continue`` is honoured; a body over the limit gets 413 and the
connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from http import HTTPStatus
from typing import cast

import httptools

from mlops_serving.http_pool import Headers
from mlops_serving.router_app import Answer, ProxyApp, Request, error

log = logging.getLogger(__name__)


STATUS_LINES = {s.value: b"HTTP/1.1 %d %s" % (s.value, s.phrase.encode()) for s in HTTPStatus}


def _status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown" % status


def encode_answer(answer: Answer, *, keep_alive: bool) -> bytes:
    lines = [_status_line(answer.status)]
    lines += [k + b": " + v for k, v in answer.headers]
    lines.append(b"content-length: %d" % len(answer.body))
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + answer.body


class RouterProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.max_body = app.settings.max_request_bytes
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[tuple[Request, bool]] = deque()
        self.worker: asyncio.Task[None] | None = None
        self._idle: asyncio.Future[None] | None = None  # the worker waits on it for a request
        self._url = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    # ---- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(error(400, "protocol upgrades are not supported"))
        except httptools.HttpParserError as exc:
            self._fail(error(400, f"malformed HTTP request: {exc}"))

    def _fail(self, answer: Answer) -> None:
        if self.transport is not None:
            self.transport.write(encode_answer(answer, keep_alive=False))
            self.transport.close()

    # ---- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        for key, value in self._headers:
            if key == b"content-length" and value.isdigit() and int(value) > self.max_body:
                self._too_large = True
            elif (
                key == b"expect"
                and value.lower() == b"100-continue"
                and self.transport is not None
                and not self._too_large
            ):
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._size += len(body)
        if self._size > self.max_body:
            self._too_large = True
            self._body = []
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._too_large:
            limit = self.max_body
            self._fail(error(413, f"request body is larger than the limit of {limit} bytes"))
            return
        url = httptools.parse_url(self._url)
        request = Request(
            method=self.parser.get_method(),
            path=(url.path or b"/").decode("latin-1"),
            target=self._url,
            headers=self._headers,
            body=b"".join(self._body),
        )
        self.queue.append((request, self.parser.should_keep_alive()))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._answer_queue())
        elif self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    # ---- answering -------------------------------------------------------------------------

    async def _answer_queue(self) -> None:
        """Answer the connection's requests in order, for as long as it lives: one task per
        connection, waiting between requests, costs less per request than one task each."""
        loop = asyncio.get_running_loop()
        while True:
            while self.queue:
                request, keep_alive = self.queue.popleft()
                answer = await self.app.answer(request)
                if self.transport is None:
                    return
                self.transport.write(encode_answer(answer, keep_alive=keep_alive))
                if not keep_alive:
                    self.transport.close()
                    return
            self._idle = loop.create_future()
            await self._idle
            self._idle = None


async def serve(app: ProxyApp, *, host: str, port: int) -> None:
    """Run until SIGTERM or SIGINT, then stop taking connections and shut down."""
    loop = asyncio.get_running_loop()
    await app.start()
    server = await loop.create_server(
        lambda: RouterProtocol(app), host, port, reuse_address=True, backlog=2048
    )
    log.info("router listening on %s:%d", host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
        await app.stop()


def run(app: ProxyApp, *, host: str, port: int) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(app, host=host, port=port))
    else:
        uvloop.run(serve(app, host=host, port=port))
