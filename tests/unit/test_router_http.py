"""The router's HTTP/1.1 response parsing and its config file watcher."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mlops_serving.http_pool import BackendProtocolError, parse_head, read_body
from mlops_serving.router_config_source import router_config_source

pytestmark = pytest.mark.unit


def _body(raw: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bool]:
    async def go() -> tuple[bytes, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_body(reader, headers)

    return asyncio.run(go())


def test_parse_head() -> None:
    status, headers = parse_head(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A: b"
    )
    assert status == 404
    assert headers == [(b"content-type", b"application/json"), (b"x-a", b"b")]
    with pytest.raises(BackendProtocolError, match="status line"):
        parse_head(b"SSH-2.0-OpenSSH")


def test_bodies_by_length_chunks_and_close() -> None:
    assert _body(b"hello!!", [(b"content-length", b"5")]) == (b"hello", True)
    chunked = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    assert _body(chunked, [(b"transfer-encoding", b"chunked")]) == (b"hello world", True)
    assert _body(b"until eof", []) == (b"until eof", False)
    closing = [(b"content-length", b"2"), (b"connection", b"close")]
    assert _body(b"ok", closing) == (b"ok", False)


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
