"""The HTTP/1.1 front of the router and the model server (requests fed to a connection in
pieces), its shutdown, the ASGI app behind the model server's front, and which requests the
model server answers directly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi import Request as FastApiRequest

from fake_transport import FakeTransport
from mlops_serving.asgi_bridge import AsgiBridge
from mlops_serving.http_front import (
    MAX_PIPELINED,
    Answer,
    FrontProtocol,
    Request,
    close_idle,
    drain,
)
from mlops_serving.server_front import ServerFront

pytestmark = pytest.mark.unit


class _EchoApp:
    """Answers each request with its path, after ``release`` is set when one is given."""

    def __init__(self, release: asyncio.Event | None = None) -> None:
        self.release = release
        self.seen: list[Request] = []

    async def answer(self, request: Request) -> Answer:
        self.seen.append(request)
        if self.release is not None:
            await self.release.wait()
        return Answer(200, [(b"content-type", b"text/plain")], request.path.encode())

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def _connection(app: _EchoApp, connections: set[FrontProtocol] | None = None) -> FrontProtocol:
    protocol = FrontProtocol(
        app, max_body=64, connections=set() if connections is None else connections
    )
    protocol.connection_made(FakeTransport())  # type: ignore[arg-type]
    return protocol


def _written(protocol: FrontProtocol) -> bytes:
    transport = protocol.transport
    assert isinstance(transport, FakeTransport)
    return b"".join(transport.written)


def _closed(protocol: FrontProtocol) -> bool:
    transport = protocol.transport
    assert isinstance(transport, FakeTransport)
    return transport.closed


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_pipelined_requests_are_answered_in_order_and_close_when_asked() -> None:
    async def go() -> FrontProtocol:
        protocol = _connection(_EchoApp())
        protocol.data_received(
            b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n"
            b"POST /second HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi"
            b"GET /third HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        await _settle()
        return protocol

    protocol = asyncio.run(go())
    answers = _written(protocol).split(b"HTTP/1.1 200 OK")[1:]
    assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [b"/first", b"/second", b"/third"]
    assert [b"connection: close" in a for a in answers] == [False, False, True]
    assert _closed(protocol)


def test_a_client_pipelining_faster_than_it_reads_is_read_no_further_until_answered() -> None:
    async def go() -> tuple[bool, bool, int]:
        release = asyncio.Event()
        protocol = _connection(_EchoApp(release))
        protocol.data_received(b"GET /r HTTP/1.1\r\n\r\n" * (MAX_PIPELINED + 1))
        await _settle()
        transport = protocol.transport
        assert isinstance(transport, FakeTransport)
        paused = not transport.reading
        release.set()
        await _settle()
        return paused, transport.reading, _written(protocol).count(b"HTTP/1.1 200")

    paused, reading, answered = asyncio.run(go())
    assert paused
    assert reading
    assert answered == MAX_PIPELINED + 1


def test_a_body_over_the_limit_gets_413_naming_the_limit_and_the_connection_closes() -> None:
    async def go() -> FrontProtocol:
        protocol = _connection(_EchoApp())
        protocol.data_received(b"POST /p HTTP/1.1\r\ncontent-length: 100\r\n\r\n" + b"x" * 100)
        await _settle()
        return protocol

    protocol = asyncio.run(go())
    assert _written(protocol).startswith(b"HTTP/1.1 413 ")
    assert b"larger than the limit of 64 bytes" in _written(protocol)
    assert _closed(protocol)


def test_shutdown_closes_an_idle_connection_at_once_and_a_busy_one_after_its_answer() -> None:
    async def go() -> tuple[FrontProtocol, FrontProtocol, bytes, bool]:
        release = asyncio.Event()
        idle = _connection(_EchoApp())
        idle.data_received(b"GET /done HTTP/1.1\r\n\r\n")
        await _settle()  # answered, now waiting for the next request
        busy = _connection(_EchoApp(release))
        busy.data_received(b"GET /slow HTTP/1.1\r\n\r\n")
        await _settle()
        idle.shutdown()
        busy.shutdown()
        before = _written(busy)
        closed_before = _closed(busy)
        release.set()
        await _settle()
        return idle, busy, before, closed_before

    idle, busy, before, closed_before = asyncio.run(go())
    assert before == b""  # still answering when told to shut down
    assert not closed_before
    assert _closed(idle)
    assert b"/slow" in _written(busy)
    assert b"connection: close" in _written(busy)
    assert _closed(busy)


def test_drain_waits_for_busy_connections_then_aborts_what_is_left() -> None:
    async def go() -> tuple[float, bool, bool]:
        connections: set[FrontProtocol] = set()
        release = asyncio.Event()
        answering = _connection(_EchoApp(release), connections)
        answering.data_received(b"GET /answered HTTP/1.1\r\n\r\n")
        stuck = _connection(_EchoApp(asyncio.Event()), connections)  # never released
        stuck.data_received(b"GET /stuck HTTP/1.1\r\n\r\n")
        await _settle()
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, release.set)
        # a closed transport is lost on the next loop turn, as asyncio's are
        loop.call_later(0.2, answering.connection_lost, None)
        started = loop.time()
        answered, left = answering.transport, stuck.transport
        await drain(connections, grace_seconds=0.5)
        assert isinstance(answered, FakeTransport)
        assert isinstance(left, FakeTransport)
        return loop.time() - started, b"/answered" in b"".join(answered.written), left.aborted

    waited, answered, aborted = asyncio.run(go())
    assert answered
    assert aborted
    assert 0.45 <= waited < 1.0


def test_connections_silent_too_long_are_closed_unless_answering() -> None:
    async def go() -> tuple[int, list[bool]]:
        connections: set[FrontProtocol] = set()
        release = asyncio.Event()
        silent = _connection(_EchoApp(), connections)
        silent.data_received(b"GET /a HTTP/1.1\r\n\r\n")
        answering = _connection(_EchoApp(release), connections)
        answering.data_received(b"GET /slow HTTP/1.1\r\n\r\n")
        partial = _connection(_EchoApp(), connections)
        partial.data_received(b"GET /b HTTP/1.1\r\n")  # headers still coming
        await _settle()
        later = asyncio.get_running_loop().time() + 61
        partial.last_heard = later - 1  # heard from a second before
        closed = close_idle(connections, later, 60)
        release.set()
        await _settle()
        return closed, [_closed(c) for c in (silent, answering, partial)]

    closed, states = asyncio.run(go())
    assert closed == 1
    assert states == [True, False, False]


def _app(events: list[str], *, fail_start: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        if fail_start:
            raise RuntimeError("no models")
        yield
        events.append("stop")

    app = FastAPI(lifespan=lifespan)

    @app.get("/items/{name}")
    async def item(name: str, request: FastApiRequest) -> dict[str, str]:
        return {"name": name, "query": request.url.query}

    @app.post("/echo")
    async def echo(request: FastApiRequest) -> dict[str, object]:
        return {"body": (await request.body()).decode(), "length": request.headers["x-length"]}

    @app.get("/peer")
    async def peer(request: FastApiRequest) -> dict[str, object]:
        client = request.client
        return {
            "http_version": request.scope["http_version"],
            "client": [client.host, client.port] if client is not None else None,
            "server": list(request.scope["server"] or []),
        }

    @app.get("/bug")
    async def bug() -> None:
        raise ValueError("a bug")

    return app


def _request(
    method: bytes,
    target: bytes,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Request:
    path = target.partition(b"?")[0].decode()
    return Request(method, path, target, headers or [], body)


def test_the_asgi_app_runs_its_lifespan_and_answers_whole_requests() -> None:
    events: list[str] = []

    async def go() -> list[Answer]:
        bridge = AsgiBridge(_app(events))
        await bridge.start()
        assert events == ["start"]
        answers = [
            await bridge.answer(_request(b"GET", b"/items/a%20b?x=1")),
            await bridge.answer(_request(b"POST", b"/echo", b"hello", [(b"x-length", b"5")])),
            await bridge.answer(_request(b"GET", b"/nowhere")),
        ]
        await bridge.stop()
        return answers

    found, echoed, missing = asyncio.run(go())
    assert events == ["start", "stop"]
    assert (found.status, json.loads(found.body)) == (200, {"name": "a b", "query": "x=1"})
    assert json.loads(echoed.body) == {"body": "hello", "length": "5"}
    assert not any(k == b"content-length" for k, _ in found.headers)  # the front writes its own
    assert missing.status == 404


def test_an_app_that_fails_to_start_stops_the_server_with_its_reason() -> None:
    async def go() -> None:
        await AsgiBridge(_app([], fail_start=True)).start()

    with pytest.raises(RuntimeError, match="no models"):
        asyncio.run(go())


def test_the_model_server_answers_prediction_paths_itself_and_the_rest_through_the_app() -> None:
    def no_inference() -> object:
        raise RuntimeError("the fast path asked for inference")

    async def go() -> tuple[Answer, Answer, Answer]:
        front = ServerFront(_app([]), inference=no_inference)  # type: ignore[arg-type]
        await front.start()
        predicted = await front.answer(_request(b"POST", b"/v1/models/m%3Apredict", b"{}"))
        inferred = await front.answer(_request(b"POST", b"/v2/models/m/versions/1/infer", b"{}"))
        other = await front.answer(_request(b"GET", b"/items/m"))
        await front.stop()
        return predicted, inferred, other

    predicted, inferred, other = asyncio.run(go())
    for answer in (predicted, inferred):  # the inference was asked for: the fast path answered
        assert (answer.status, json.loads(answer.body)) == (
            500,
            {"error": "internal error: RuntimeError"},
        )
    assert (other.status, json.loads(other.body)) == (200, {"name": "m", "query": ""})


def test_a_request_carries_its_http_version_and_both_ends_of_its_connection() -> None:
    async def go() -> list[Request]:
        app = _EchoApp()
        _connection(app).data_received(b"GET /old HTTP/1.0\r\n\r\n")
        _connection(app).data_received(b"GET /new HTTP/1.1\r\nhost: x\r\n\r\n")
        await _settle()
        return app.seen

    old, new = asyncio.run(go())
    assert (old.http_version, new.http_version) == ("1.0", "1.1")
    assert old.client == ("10.0.0.7", 40123)  # the fake transport's peername
    assert old.server == ("10.0.0.1", 8080)


def test_the_asgi_app_sees_the_request_s_http_version_and_addresses() -> None:
    async def go() -> Answer:
        bridge = AsgiBridge(_app([]))
        await bridge.start()
        request = Request(
            b"GET", "/peer", b"/peer", [], b"", "1.0", ("10.0.0.7", 40123), ("10.0.0.1", 8080)
        )
        answer = await bridge.answer(request)
        await bridge.stop()
        return answer

    answer = asyncio.run(go())
    assert json.loads(answer.body) == {
        "http_version": "1.0",
        "client": ["10.0.0.7", 40123],
        "server": ["10.0.0.1", 8080],
    }
