"""kopf's session bounds the requests it has in flight, never the watches, and frees the slot of
a request that fails or is cancelled (against a real HTTP server on localhost)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
import kopf
import pytest
from aiohttp import web
from yarl import URL

from mlops_operator.kopf_session import bounded_session, is_watch

pytestmark = pytest.mark.unit


class Server:
    """Counts the plain requests it serves at once; watches answer once released."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.watching = 0
        self.release_watches = asyncio.Event()
        self.delay = 0.02

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            # a watch whose response has not started: it would hold a slot until it does
            self.watching += 1
            await self.release_watches.wait()
            return web.json_response({})
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(float(request.query.get("sleep", self.delay)))
        finally:
            self.now -= 1
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    app = web.Application()
    app.router.add_get("/{tail:.*}", state.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    state.release_watches.set()
    await runner.cleanup()


async def _get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def _until(check: Callable[[], bool], timeout: float = 10) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def test_a_watch_is_told_from_a_request() -> None:
    assert is_watch(URL("https://api/apis/mlops.dev/v1alpha1/models?watch=true&timeoutSeconds=1"))
    assert not is_watch(URL("https://api/apis/mlops.dev/v1alpha1/models?limit=500"))
    assert not is_watch(URL("https://api/apis/mlops.dev/v1alpha1/namespaces/a/models/watch"))


def test_requests_in_flight_stay_within_the_slots_and_watches_take_none() -> None:
    asyncio.run(_requests_and_watches())


async def _requests_and_watches() -> None:
    async with serving() as (state, base):
        await _requests_and_watches_against(state, base)


async def _requests_and_watches_against(state: Server, base: str) -> None:
    made = bounded_session(kopf.ConnectionInfo(server=base, token="t"), requests=4)
    session = made.aiohttp_session
    try:
        watches = [asyncio.create_task(session.get(f"{base}/w?watch=true")) for _ in range(6)]
        await _until(lambda: state.watching == 6)  # more watches than slots, all waiting
        statuses = await asyncio.wait_for(
            asyncio.gather(*(_get(session, f"{base}/r{n}") for n in range(40))), timeout=20
        )
        assert statuses == [200] * 40
        assert state.peak == 4
        assert made.server == base
        assert session.headers["Authorization"] == "Bearer t"
        state.release_watches.set()
        for watch in watches:
            (await watch).close()
    finally:
        await session.close()


def test_a_cancelled_or_failed_request_frees_its_slot() -> None:
    asyncio.run(_cancelled_and_failed())


async def _cancelled_and_failed() -> None:
    async with serving() as (state, base):
        await _cancelled_and_failed_against(state, base)


async def _cancelled_and_failed_against(state: Server, base: str) -> None:
    session = bounded_session(kopf.ConnectionInfo(server=base), requests=2).aiohttp_session
    try:
        # two requests hold both slots, a third waits for one: cancel all three
        stuck = [asyncio.create_task(_get(session, f"{base}/slow?sleep=30")) for _ in range(3)]
        await _until(lambda: state.now == 2)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        await _until(lambda: state.now == 0)  # the server has seen the clients go
        state.peak = 0
        # a request that fails to connect
        with pytest.raises(aiohttp.ClientConnectionError):
            await asyncio.wait_for(_get(session, "http://127.0.0.1:1/refused"), timeout=10)
        statuses = await asyncio.wait_for(
            asyncio.gather(*(_get(session, f"{base}/r{n}") for n in range(6))), timeout=10
        )
        assert statuses == [200] * 6
        assert state.peak == 2
    finally:
        await session.close()
