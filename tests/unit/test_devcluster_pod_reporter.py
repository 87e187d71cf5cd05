"""The node agent's status writes outlive an API server that is away or starting: a pod's
state written while the control plane restarts reaches the API once it is back."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from mlops_devcluster.agent.reporting import PodReporter
from mlops_devcluster.kube import Kube

pytestmark = pytest.mark.unit

POD = {"metadata": {"namespace": "team", "name": "run-0", "uid": "u-1"}}
STATUS = {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}]}


class _Recorder(BaseHTTPRequestHandler):
    writes: ClassVar[list[tuple[str, dict[str, object]]]] = []
    refusals_left: ClassVar[int] = 0

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).refusals_left > 0:
            type(self).refusals_left -= 1
            answer, code = {"reason": "ServiceUnavailable", "message": "starting"}, 503
        else:
            type(self).writes.append((self.path, body))
            answer, code = {}, 200
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    _Recorder.writes = []
    _Recorder.refusals_left = 0
    return _free_port()


def _serve_after(port: int, delay: float) -> tuple[threading.Thread, list[ThreadingHTTPServer]]:
    servers: list[ThreadingHTTPServer] = []

    def serve() -> None:
        time.sleep(delay)
        server = ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, servers


@pytest.fixture
def kube(port: int) -> Iterator[Kube]:
    client = Kube(server=f"http://127.0.0.1:{port}", context=ssl.create_default_context())
    yield client
    client.close()


def test_a_status_written_while_the_api_server_is_away_arrives_once_it_is_back(
    port: int, kube: Kube
) -> None:
    _, servers = _serve_after(port, 1.0)  # nothing listens for the first second
    try:
        assert PodReporter(kube, patience=20).status(POD, STATUS) is True
        assert [(path, body["status"]) for path, body in _Recorder.writes] == [
            ("/api/v1/namespaces/team/pods/run-0/status", STATUS)
        ]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_starting_api_server_is_asked_again(port: int, kube: Kube) -> None:
    _Recorder.refusals_left = 2  # 503 twice, as an API server whose storage is not ready
    _, servers = _serve_after(port, 0.0)
    try:
        time.sleep(0.2)
        assert PodReporter(kube, patience=20).status(POD, STATUS) is True
        assert len(_Recorder.writes) == 1
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_an_api_server_away_past_the_patience_is_given_up_and_asked_again_next_time(
    port: int, kube: Kube
) -> None:
    reporter = PodReporter(kube, patience=0.3)
    assert reporter.status(POD, STATUS) is True  # gave up: nothing listens
    assert _Recorder.writes == []
    _, servers = _serve_after(port, 0.0)
    try:
        time.sleep(0.2)
        assert reporter.status(POD, STATUS) is True  # not taken as written before
        assert len(_Recorder.writes) == 1
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
