"""The router's HTTP/1.1 client connection (responses fed to it in pieces) and its config
file watcher."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fake_transport import FakeTransport
from mlops_serving.http_pool import (
    MAX_HEAD,
    BackendProtocolError,
    HttpPool,
    HttpResponse,
    _Connection,
    _StaleConnectionError,
)
from mlops_serving.router_config_source import router_config_source

pytestmark = pytest.mark.unit


def _exchange(
    *parts: bytes, close: bool = False
) -> tuple[HttpResponse | BaseException, _Connection]:
    """Send a request on a connection, feed it ``parts`` of an answer, maybe close it."""

    async def go() -> tuple[HttpResponse | BaseException, _Connection]:
        conn = _Connection("h:1")
        conn.connection_made(FakeTransport())  # type: ignore[arg-type]
        answer = conn.send(b"GET / HTTP/1.1\r\n\r\n")
        for part in parts:
            conn.data_received(part)
        if close:
            conn.connection_lost(None)
        try:
            return await asyncio.wait_for(answer, 1), conn
        except (BackendProtocolError, _StaleConnectionError) as exc:
            return exc, conn

    return asyncio.run(go())


def test_an_answer_in_pieces_with_its_length_keeps_the_connection() -> None:
    response, conn = _exchange(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A: b\r\nContent-Le",
        b"ngth: 5\r\n\r\nhel",
        b"lo",
    )
    assert isinstance(response, HttpResponse)
    assert response.status == 404
    assert response.headers == [
        (b"content-type", b"application/json"),
        (b"x-a", b"b"),
        (b"content-length", b"5"),
    ]
    assert response.body == b"hello"
    assert conn.reusable


def test_an_interim_answer_is_skipped() -> None:
    response, conn = _exchange(
        b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    assert isinstance(response, HttpResponse)
    assert (response.status, response.headers, response.body) == (
        200,
        [(b"content-length", b"2")],
        b"ok",
    )
    assert conn.reusable


def test_chunked_close_delimited_and_closing_answers() -> None:
    chunked = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    response, conn = _exchange(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert isinstance(response, HttpResponse)
    assert (response.body, conn.reusable) == (b"hello world", True)
    response, conn = _exchange(b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"eof", close=True)
    assert isinstance(response, HttpResponse)
    assert (response.body, conn.reusable) == (b"until eof", False)
    response, conn = _exchange(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )
    assert isinstance(response, HttpResponse)
    assert (response.body, conn.reusable) == (b"ok", False)


def test_failures_are_told_apart_from_a_connection_closed_before_answering() -> None:
    stale, conn = _exchange(close=True)
    assert isinstance(stale, _StaleConnectionError)  # may be retried on a fresh connection
    cut, conn = _exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhal", close=True)
    assert isinstance(cut, BackendProtocolError)
    assert not conn.reusable
    garbage, conn = _exchange(b"SSH-2.0-OpenSSH\r\n")
    assert isinstance(garbage, BackendProtocolError)
    assert conn.transport is not None
    assert conn.transport.is_closing()
    huge, _ = _exchange(b"HTTP/1.1 200 OK\r\n" + b"x-big: " + b"a" * MAX_HEAD + b"\r\n")
    assert isinstance(huge, BackendProtocolError)
    assert "head over" in str(huge)


def test_an_answer_past_the_deadline_times_out_and_its_connection_is_not_kept() -> None:
    async def go() -> tuple[float, list[int]]:
        opened: list[int] = []

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            opened.append(1)
            await reader.read()  # reads the request, never answers
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        endpoint = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        pool = HttpPool(connect_timeout=2.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await pool.request(endpoint, b"GET", b"/", [], b"", deadline=loop.time() + 0.2)
        waited = (loop.time() - started) / 2
        await pool.close()
        server.close()
        return waited, opened

    waited, opened = asyncio.run(go())
    assert 0.2 <= waited < 1.0
    assert len(opened) == 2  # the timed-out connection was not reused


def _config(weight: int) -> str:
    return json.dumps(
        {
            "model": "m",
            "backends": [
                {"version": "1", "weight": weight, "endpoints": ["h:1"]},
                {"version": "2", "weight": 100 - weight, "endpoints": ["h:2"]},
            ],
        }
    )


def test_config_source_reloads_on_change_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    source = router_config_source(path)
    assert not source.reload()
    assert "cannot read" in (source.error or "")
    path.write_text(_config(90))
    assert source.reload()
    assert source.config is not None
    assert source.config.backends[0].weight == 90
    assert not source.reload()  # unchanged content: nothing to do
    path.write_text(_config(50))
    assert source.reload()
    assert source.generation == 2
    path.write_text(
        '{"model": "m", "backends": [{"version": "1", "weight": 40, "endpoints": ["h:1"]}]}'
    )
    assert not source.reload()
    assert "add up to 40" in (source.error or "")
    assert source.config.backends[0].weight == 50
