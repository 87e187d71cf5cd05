"""Reads of many pods (A/B accuracy tallies, router metrics) go side by side: pods that accept
a connection and never answer cost one timeout together, not one each, and the pods that do
answer are still counted. Real loopback sockets and HTTP servers, no cluster."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.ab_counts import read_accuracy
from mlops_operator.adapters.drift_reader import PodEndpoint
from mlops_operator.adapters.router_metrics import scrape_routers

pytestmark = pytest.mark.unit

TIMEOUT = 1.0
HUNG = 3


@contextlib.contextmanager
def hung_pods(count: int) -> Iterator[list[str]]:
    """Addresses that accept connections and never answer."""
    listeners = []
    try:
        for _ in range(count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            listeners.append(listener)
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    finally:
        for listener in listeners:
            listener.close()


@contextlib.contextmanager
def answering_pod(path: str, body: bytes) -> Iterator[str]:
    """A pod that answers ``GET path`` with ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == path
            self.send_response(200 if found else 404)
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_accuracy_tallies_of_hung_servers_cost_one_timeout_and_the_others_still_count() -> None:
    tallies = {"versions": [{"version": "1.0.0", "samples": 10, "accuracy": 0.8}]}
    with (
        hung_pods(HUNG) as hung,
        answering_pod("/mlops/models/fraud/accuracy", json.dumps(tallies).encode()) as good,
    ):
        pods = [PodEndpoint(f"hung-{n}", a) for n, a in enumerate(hung)]
        pods.append(PodEndpoint("good", good))
        started = time.monotonic()
        read = read_accuracy(pods, model="fraud", timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert read.counts == [ArmCounts("1.0.0", 10, 8)]
    assert [u.split(":")[0] for u in read.unreadable] == ["hung-0", "hung-1", "hung-2"]
    assert elapsed < 2.5 * TIMEOUT, f"{elapsed:.1f}s: the servers were read one after another"


def test_hung_routers_cost_one_timeout_and_are_named() -> None:
    with hung_pods(HUNG) as hung:
        started = time.monotonic()
        scrape = scrape_routers(hung, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert scrape.answers == {}
    assert sorted(scrape.unreadable) == sorted(hung)
    assert all("unreachable" in why for why in scrape.unreadable.values())
    assert elapsed < 2.5 * TIMEOUT, f"{elapsed:.1f}s: the routers were read one after another"
