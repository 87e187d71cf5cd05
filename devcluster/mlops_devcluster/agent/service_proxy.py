"""A TCP proxy per Service port, as kube-proxy's userspace mode once was.

One asyncio event loop in one thread holds every listener (idle, it costs nothing). A connection
to ``ClusterIP:port`` is forwarded to one of the Service's ready endpoints, round robin; an
endpoint that refuses (or does not answer within ``CONNECT_TIMEOUT``) is skipped for the next
one; when none accepts, the client's connection is closed. Bytes are copied both ways, and a
half-close is passed on, until both sides are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future
from typing import Final

from mlops_devcluster.agent.services import Backend, Listen, RoundRobin

CONNECT_TIMEOUT: Final = 2.0
CHUNK: Final = 65536
log = logging.getLogger(__name__)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class _Listener:
    """One Service port: its server socket and its current backends."""

    def __init__(self, listen: Listen, backends: list[Backend]) -> None:
        self.listen = listen
        self.backends = backends
        self.choice = RoundRobin()
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._handle, host=self.listen.address, port=self.listen.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for backend in self.choice.order(self.backends):
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(backend.address, backend.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                log.info("%s:%s → %s:%s: %s", *self.listen, *backend, exc)
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream = await self._connect()
            if upstream is None:
                return
            upstream_reader, upstream_writer = upstream
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            pass  # the listener stopped (its Service went); ending quietly is the point
        finally:
            for stream in (writer, upstream_writer):
                if stream is not None:
                    stream.close()
            if task is not None:
                self.connections.discard(task)


class ServiceProxy:
    """Every Service port's listener; :meth:`sync` (from any thread) makes them match the
    routes, :meth:`close` stops them all."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._listeners: dict[Listen, _Listener] = {}
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="service-proxy", daemon=True
        )
        self._thread.start()

    def sync(self, routes: dict[Listen, list[Backend]], *, timeout: float = 10.0) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._sync(routes), self._loop)
        future.result(timeout)

    @property
    def listening(self) -> list[Listen]:
        return sorted(self._listeners)

    async def _sync(self, routes: dict[Listen, list[Backend]]) -> None:
        for listen in [key for key in self._listeners if key not in routes]:
            await self._listeners.pop(listen).stop()
            log.info("stopped proxying %s:%s", *listen)
        for listen, backends in routes.items():
            listener = self._listeners.get(listen)
            if listener is not None:
                listener.backends = backends
                continue
            listener = _Listener(listen, backends)
            try:
                await listener.start()
            except OSError as exc:
                log.warning("cannot listen on %s:%s for its Service: %s", *listen, exc)
                continue
            self._listeners[listen] = listener
            log.info("proxying %s:%s", *listen)

    def close(self) -> None:
        if not self._loop.is_running():
            return
        with contextlib.suppress(Exception):
            self.sync({})
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()
