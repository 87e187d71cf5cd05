"""The HTTP/1.1 front of the router and the model server: an asyncio protocol on the httptools
parser.

Both processes sit on every prediction's path, so their front end is kept to what it needs:
parse a request, hand method, path, headers and body to ``Front.answer``, write the answer
back, keep the connection alive when the client wants it. One task per connection answers its
requests in order (pipelined ones too), which costs less per request than a task each; with
MAX_PIPELINED waiting, the connection is read no further until they are answered.
``Expect: 100-continue`` is honoured; a body over the limit gets 413 and the connection is
closed. A connection that has sent nothing for IDLE_CLOSE_S while nothing of it is being
answered is closed (clients reconnect; the router's own pool retries on another connection).
On SIGTERM or SIGINT the listening socket closes, idle connections are closed, the requests in
progress are answered (with ``connection: close``) for up to the grace period, then the
front's ``stop`` runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Protocol, cast

import httptools

from mlops_serving.errors import too_large_message

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
#: requests received and not yet answered on one connection before it is read no further
MAX_PIPELINED: Final = 32
#: seconds a connection may stay silent, with nothing of it being answered, before it is closed
IDLE_CLOSE_S: Final = 60.0
STATUS_LINES = {s.value: b"HTTP/1.1 %d %s" % (s.value, s.phrase.encode()) for s in HTTPStatus}


#: a TCP endpoint: host and port
Address = tuple[str, int]


def _address(transport: asyncio.BaseTransport, name: str) -> Address | None:
    """The transport's ``peername`` or ``sockname`` as host and port; None for another family."""
    found = transport.get_extra_info(name)
    if isinstance(found, tuple) and len(found) >= 2:
        return str(found[0]), int(found[1])
    return None


@dataclass
class Request:
    method: bytes
    path: str  # as sent, not percent-decoded
    target: bytes  # path and query as sent
    headers: Headers  # names lower-cased
    body: bytes
    http_version: str = "1.1"  # as the request line gave it: "1.0" or "1.1"
    client: Address | None = None  # the peer's host and port (None: not a TCP connection)
    server: Address | None = None  # the listening host and port it reached


@dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes


def error(status: int, message: str) -> Answer:
    body = json.dumps({"error": message}).encode()
    return Answer(status, [(b"content-type", b"application/json")], body)


class Front(Protocol):
    """What the front serves: a router or a model server."""

    async def answer(self, request: Request) -> Answer: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


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


class FrontProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: Front, *, max_body: int, connections: set[FrontProtocol]) -> None:
        self.app = app
        self.max_body = max_body
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.client: Address | None = None
        self.server: Address | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[tuple[Request, bool]] = deque()
        self.worker: asyncio.Task[None] | None = None
        self._idle: asyncio.Future[None] | None = None  # the worker waits on it for a request
        self.closing = False  # the server is shutting down: answer what came, then close
        self.last_heard = 0.0  # the event loop's time of the last bytes received
        self.reading = True
        self._url = b""
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    # ---- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.client = _address(transport, "peername")
        self.server = _address(transport, "sockname")
        self.connections.add(self)
        self.loop = asyncio.get_running_loop()
        self.last_heard = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.connections.discard(self)
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.last_heard = self.loop.time()
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

    @property
    def busy(self) -> bool:
        """A request of this connection is waiting or being answered."""
        if self.queue:
            return True
        waiting = self._idle is not None and not self._idle.done()
        return self.worker is not None and not self.worker.done() and not waiting

    def shutdown(self) -> None:
        """Close now when idle; else after answering the requests already received."""
        self.closing = True
        if self.transport is not None and not self.busy:
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
            self._fail(error(413, too_large_message(self.max_body)))
            return
        url = httptools.parse_url(self._url)
        request = Request(
            method=self.parser.get_method(),
            path=(url.path or b"/").decode("latin-1"),
            target=self._url,
            headers=self._headers,
            body=b"".join(self._body),
            http_version=self.parser.get_http_version(),
            client=self.client,
            server=self.server,
        )
        self.queue.append((request, self.parser.should_keep_alive()))
        if len(self.queue) >= MAX_PIPELINED and self.transport is not None and self.reading:
            self.transport.pause_reading()  # the client sends faster than it reads the answers
            self.reading = False
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._answer_queue())
        elif self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    # ---- answering -------------------------------------------------------------------------

    async def _answer_queue(self) -> None:
        """Answer the connection's requests in order, for as long as it lives."""
        loop = asyncio.get_running_loop()
        while True:
            while self.queue:
                request, keep_alive = self.queue.popleft()
                if not self.reading and len(self.queue) < MAX_PIPELINED // 2 and self.transport:
                    self.transport.resume_reading()
                    self.reading = True
                answer = await self.app.answer(request)
                if self.transport is None:
                    return
                keep_alive = keep_alive and not (self.closing and not self.queue)
                self.transport.write(encode_answer(answer, keep_alive=keep_alive))
                if not keep_alive:
                    self.transport.close()
                    return
            self._idle = loop.create_future()
            await self._idle
            self._idle = None


async def serve(app: Front, *, host: str, port: int, max_body: int, grace_seconds: float) -> None:
    """Run until SIGTERM or SIGINT, then stop taking connections, answer what is in progress
    for up to ``grace_seconds``, and stop the app."""
    loop = asyncio.get_running_loop()
    await app.start()
    connections: set[FrontProtocol] = set()
    server = await loop.create_server(
        lambda: FrontProtocol(app, max_body=max_body, connections=connections),
        host,
        port,
        reuse_address=True,
        backlog=2048,
    )
    log.info("listening on %s:%d", host, port)
    sweeping = loop.create_task(_close_idle_forever(connections))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        sweeping.cancel()
        server.close()
        await drain(connections, grace_seconds)
        await app.stop()


def close_idle(connections: set[FrontProtocol], now: float, idle_seconds: float) -> int:
    """Close the connections silent for more than ``idle_seconds`` with nothing being answered;
    how many were closed."""
    closed = 0
    for connection in list(connections):
        silent = now - connection.last_heard > idle_seconds
        if silent and not connection.busy and connection.transport is not None:
            connection.transport.close()
            closed += 1
    return closed


async def _close_idle_forever(connections: set[FrontProtocol]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(IDLE_CLOSE_S / 4)
        close_idle(connections, loop.time(), IDLE_CLOSE_S)


async def drain(connections: set[FrontProtocol], grace_seconds: float) -> None:
    """Close idle connections, let busy ones answer what they received, then close the rest."""
    for connection in list(connections):
        connection.shutdown()
    deadline = time.monotonic() + grace_seconds
    while connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if connections:
        log.warning(
            "%d connections still busy after %.1f s; closing them", len(connections), grace_seconds
        )
    for connection in list(connections):
        if connection.transport is not None:
            connection.transport.abort()


def run(app: Front, *, host: str, port: int, max_body: int, grace_seconds: float) -> None:
    main = serve(app, host=host, port=port, max_body=max_body, grace_seconds=grace_seconds)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
