"""A small HTTP/1.1 client with keep-alive connection pools, for the router's hot path.

The router only talks to model servers on the cluster network, so it needs little: one
request at a time per connection, ``Content-Length``, chunked or close-delimited responses, and
a clear line between failures that are safe to retry elsewhere (the request never reached a
server) and those that are not. Headers stay bytes end to end.

Each connection is an asyncio protocol fed to the httptools response parser (the parser the
router's front uses): a request is one write and one future, with no stream reader between
the socket and the parser, which is what a proxy spends most of its time on per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import cast

import httptools

from mlops_serving.http_front import Headers

MAX_HEAD = 64 * 1024
SWEEP_S = 0.05  # how often answers past their deadline are looked for


class BackendConnectError(Exception):
    """The endpoint could not be reached; nothing was sent, so another endpoint may be tried."""


class BackendProtocolError(Exception):
    """The endpoint closed the connection or answered something that is not HTTP/1.1."""


class _StaleConnectionError(Exception):
    """A pooled connection closed before answering: retry on a fresh one."""


@dataclass
class HttpResponse:
    status: int
    headers: Headers  # names lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an endpoint; one exchange at a time."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[HttpResponse] | None = None
        self.reusable = True
        self._received = 0
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._head_done = False
        self._framed = False  # Content-Length or chunked: the parser knows where the body ends

    # ---- the exchange --------------------------------------------------------------------------

    def send(self, payload: bytes) -> asyncio.Future[HttpResponse]:
        """Write a request; the future is its response (or the reason there is none)."""
        self.waiter = asyncio.get_running_loop().create_future()
        self._received = 0
        self._headers, self._body = [], []
        self._head_done = self._framed = False
        if self.transport is None or self.transport.is_closing():
            self.waiter.set_exception(_StaleConnectionError())
        else:
            self.transport.write(payload)
        return self.waiter

    def time_out(self) -> None:
        """The deadline passed before the answer came: TimeoutError, and the connection closes."""
        self._finish(TimeoutError())

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def _finish(self, result: HttpResponse | BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if isinstance(result, BaseException):
            self.close()
            waiter.set_exception(result)
        else:
            waiter.set_result(result)

    def _response(self) -> HttpResponse:
        return HttpResponse(self.parser.get_status_code(), self._headers, b"".join(self._body))

    # ---- asyncio protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        if self.waiter is None:
            return
        if self._received == 0:  # closed before answering: the request may be retried
            self._finish(_StaleConnectionError())
        elif self._head_done and not self._framed:  # the body ran until the close
            self._finish(self._response())
        else:
            self._finish(BackendProtocolError(f"{self.endpoint} closed the connection mid-answer"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: an idle connection must not talk
            self.close()
            return
        self._received += len(data)
        if not self._head_done and self._received > MAX_HEAD:
            self._finish(BackendProtocolError(f"{self.endpoint}: response head over {MAX_HEAD}"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(BackendProtocolError(f"{self.endpoint}: not HTTP/1.1: {exc}"))

    # ---- parser callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key in (b"content-length", b"transfer-encoding"):
            self._framed = True
        self._headers.append((key, value))

    def on_headers_complete(self) -> None:
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.parser.get_status_code() < 200:  # interim (100 Continue): more follows
            self._headers, self._body = [], []
            self._head_done = self._framed = False
            return
        self.reusable = self.reusable and self.parser.should_keep_alive()
        self._finish(self._response())


class HttpPool:
    """Idle keep-alive connections per ``host:port``."""

    def __init__(self, *, connect_timeout: float, max_idle_per_endpoint: int = 256) -> None:
        self._idle: dict[str, deque[_Connection]] = {}
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle_per_endpoint
        # exchanges under way and their deadlines, looked over every SWEEP_S while there are
        # any: one timer for them all costs a request less than a timer (or asyncio.timeout)
        # of its own
        self._in_flight: dict[_Connection, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn, deadline in list(self._in_flight.items()):
            if deadline <= now:
                conn.time_out()
        self._sweeper = None
        if self._in_flight:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)

    async def _open(self, endpoint: str) -> _Connection:
        host, _, port = endpoint.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(endpoint), host.strip("[]"), int(port)
                )
        except (OSError, TimeoutError) as exc:
            raise BackendConnectError(f"{endpoint}: {exc or type(exc).__name__}") from exc
        return conn

    async def request(
        self,
        endpoint: str,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes,
        *,
        deadline: float,
    ) -> HttpResponse:
        """One exchange with ``endpoint``, on an idle connection when there is one. ``deadline``
        (the event loop's clock) bounds it all, connecting included: past it (by at most
        ``SWEEP_S``), TimeoutError."""
        head = [method + b" " + target + b" HTTP/1.1", b"host: " + endpoint.encode()]
        head += [k + b": " + v for k, v in headers]
        head.append(b"content-length: %d" % len(body))
        payload = b"\r\n".join(head) + b"\r\n\r\n" + body
        idle = self._idle.get(endpoint)
        while idle:  # a pooled connection may have been closed by the server meanwhile
            conn = idle.pop()
            try:
                return await self._exchange(endpoint, conn, payload, deadline)
            except _StaleConnectionError:
                continue
        async with asyncio.timeout_at(deadline):
            conn = await self._open(endpoint)
        try:
            return await self._exchange(endpoint, conn, payload, deadline)
        except _StaleConnectionError as exc:
            raise BackendProtocolError(f"{endpoint} closed the connection") from exc

    async def _exchange(
        self, endpoint: str, conn: _Connection, payload: bytes, deadline: float
    ) -> HttpResponse:
        answer = conn.send(payload)
        self._in_flight[conn] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP_S, self._sweep)
        try:
            response = await answer
        except BaseException:  # failed, cancelled or timed out: the connection is unusable
            conn.close()
            raise
        finally:
            del self._in_flight[conn]
        idle = self._idle.setdefault(endpoint, deque())
        if conn.reusable and len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()
        return response

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)  # let the transports close
