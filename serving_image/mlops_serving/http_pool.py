"""A small HTTP/1.1 client with keep-alive connection pools, for the router's hot path.

The router only talks to model servers on the cluster network, so it needs little: one
request at a time per connection, ``Content-Length`` or chunked responses, and a clear line
between failures that are safe to retry elsewhere (the request never reached a server) and
those that are not. Headers stay bytes end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
Headers = list[tuple[bytes, bytes]]


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


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


def parse_head(head: bytes) -> tuple[int, Headers]:
    """Status and headers (names lower-cased) of a response head without its blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BackendProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: Headers = []
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(b":")
            headers.append((key.strip().lower(), value.strip()))
    return int(parts[1]), headers


async def read_body(reader: asyncio.StreamReader, headers: Headers) -> tuple[bytes, bool]:
    """The body, and whether the connection can be reused."""
    fields = dict(headers)
    reusable = fields.get(b"connection", b"").lower() != b"close"
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks), reusable
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if b"content-length" in fields:
        return await reader.readexactly(int(fields[b"content-length"])), reusable
    return await reader.read(), False


class HttpPool:
    """Idle keep-alive connections per ``host:port``."""

    def __init__(self, *, connect_timeout: float, max_idle_per_endpoint: int = 256) -> None:
        self._idle: dict[str, deque[_Connection]] = {}
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle_per_endpoint

    async def _open(self, endpoint: str) -> _Connection:
        host, _, port = endpoint.rpartition(":")
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host.strip("[]"), int(port), limit=MAX_HEAD
                )
        except (OSError, TimeoutError) as exc:
            raise BackendConnectError(f"{endpoint}: {exc or type(exc).__name__}") from exc
        return _Connection(reader, writer)

    async def request(
        self, endpoint: str, method: bytes, target: bytes, headers: Headers, body: bytes
    ) -> HttpResponse:
        head = [method + b" " + target + b" HTTP/1.1", b"host: " + endpoint.encode()]
        head += [k + b": " + v for k, v in headers]
        head.append(b"content-length: " + str(len(body)).encode())
        payload = b"\r\n".join(head) + b"\r\n\r\n" + body
        idle = self._idle.get(endpoint)
        while idle:  # a pooled connection may have been closed by the server meanwhile
            conn = idle.pop()
            try:
                return await self._exchange(endpoint, conn, payload)
            except _StaleConnectionError:
                continue
        conn = await self._open(endpoint)
        try:
            return await self._exchange(endpoint, conn, payload)
        except _StaleConnectionError as exc:
            raise BackendProtocolError(f"{endpoint} closed the connection") from exc

    async def _exchange(self, endpoint: str, conn: _Connection, payload: bytes) -> HttpResponse:
        try:
            conn.writer.write(payload)
            try:
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _StaleConnectionError from exc
                raise
            except ConnectionResetError as exc:
                raise _StaleConnectionError from exc
            status, headers = parse_head(head[:-4])
            body, reusable = await read_body(conn.reader, headers)
        except _StaleConnectionError:
            conn.close()
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            conn.close()
            raise BackendProtocolError(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
        except BaseException:  # cancelled or timed out mid-exchange: the connection is unusable
            conn.close()
            raise
        idle = self._idle.setdefault(endpoint, deque())
        if reusable and len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()
        return HttpResponse(status, headers, body)

    async def close(self) -> None:
        for idle in self._idle.values():
            while idle:
                conn = idle.pop()
                conn.close()
                with contextlib.suppress(OSError):
                    await conn.writer.wait_closed()
