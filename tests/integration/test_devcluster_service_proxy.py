"""The Service proxy with real sockets on loopback: round robin, a refusing endpoint skipped,
backends replaced while it runs, the listener gone with its route, half-closes passed on."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from mlops_devcluster.agent.service_proxy import ServiceProxy
from mlops_devcluster.agent.services import Backend, Listen

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


class _Answer(socketserver.StreamRequestHandler):
    """Reads until the client's half-close, then answers with its server's name and the size."""

    def handle(self) -> None:
        received = self.rfile.read()
        self.wfile.write(f"{self.server.name}:{len(received)}".encode())  # type: ignore[attr-defined]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str) -> None:
        super().__init__((HOST, 0), _Answer)
        self.name = name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def servers() -> Iterator[dict[str, Backend]]:
    running = [_Server(name) for name in ("a", "b")]
    for server in running:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {s.name: Backend(HOST, s.server_address[1]) for s in running}
    for server in running:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy() -> Iterator[ServiceProxy]:
    serving = ServiceProxy()
    yield serving
    serving.close()


def ask(port: int, payload: bytes = b"x" * 100_000) -> str:
    with socket.create_connection((HOST, port), timeout=5) as connection:
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def test_round_robin_skips_a_refusing_endpoint_and_follows_new_backends(
    servers: dict[str, Backend], proxy: ServiceProxy
) -> None:
    refusing = Backend(HOST, free_port())
    listen = Listen(HOST, free_port())
    proxy.sync({listen: [servers["a"], refusing, servers["b"]]})
    answers = [ask(listen.port) for _ in range(6)]
    assert set(answers) == {"a:100000", "b:100000"}
    assert answers.count("a:100000") >= 2
    assert answers.count("b:100000") >= 2

    proxy.sync({listen: [servers["b"]]})
    assert {ask(listen.port, b"hi") for _ in range(3)} == {"b:2"}
    assert proxy.listening == [listen]


def test_a_removed_route_stops_listening_and_no_backend_closes_the_connection(
    servers: dict[str, Backend], proxy: ServiceProxy
) -> None:
    listen = Listen(HOST, free_port())
    proxy.sync({listen: []})
    assert ask(listen.port, b"") == ""  # accepted, then closed: nothing to forward to
    proxy.sync({})
    assert proxy.listening == []
    with pytest.raises(ConnectionRefusedError):
        ask(listen.port)
