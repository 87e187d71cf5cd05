"""A small HTTP/1.1 client with keep-alive connection pools, for the router's hot path.

The router only talks to model servers on the cluster network, so it needs little: one
request at a time per connection, ``Content-Length`` or chunked responses, and a clear line
between failures that are safe to retry elsewhere (the request never reached a server) and
those that are not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

MAX_HEAD = 64 * 1024


class BackendConnectError(Exception):
    """The endpoint could not be reached; nothing was sent, so another endpoint may be tried."""


class BackendProtocolError(Exception):
    """The endpoint closed the connection or answered something that is not HTTP/1.1."""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


async def _read_body(
    reader: asyncio.StreamReader, headers: list[tuple[str, str]]
) -> tuple[bytes, bool]:
    """The body, and whether the connection can be reused."""
    fields = {k.lower(): v for k, v in headers}
    reusable = fields.get("connection", "").lower() != "close"
    if fields.get("transfer-encoding", "").lower() == "chunked":
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
    if "content-length" in fields:
        return await reader.readexactly(int(fields["content-length"])), reusable
    return await reader.read(), False


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise BackendProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    return int(parts[1]), headers


class HttpPool:
    """Idle keep-alive connections per ``host:port``."""

    def __init__(self, *, connect_timeout: float, max_idle_per_endpoint: int = 256) -> None:
        self._idle: dict[str, deque[_Connection]] = {}
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle_per_endpoint

    async def _open(self, endpoint: str) -> _Connection:
        host, _, port = endpoint.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), int(port), limit=MAX_HEAD),
                self._connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise BackendConnectError(f"{endpoint}: {exc or type(exc).__name__}") from exc
        return _Connection(reader, writer)

    async def request(
        self, endpoint: str, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> HttpResponse:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {endpoint}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault(endpoint, deque())
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
            await conn.writer.drain()
            try:
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _StaleConnectionError from exc
                raise
            status, headers = _parse_head(head[:-4])
            body, reusable = await _read_body(conn.reader, headers)
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


class _StaleConnectionError(Exception):
    """A pooled connection closed before answering: retry on a fresh one."""
