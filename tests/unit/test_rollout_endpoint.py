"""Ready means the stable endpoint answers: the rule, step by step, and the probe against a
real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from mlops_operator.adapters.endpoint_probe import probe_endpoint
from mlops_operator.api.deployment_status import RolloutState
from mlops_operator.rollout.endpoint import (
    ENDPOINT_NOT_READY,
    EndpointObserved,
    RouterRollout,
    endpoint_problem,
    gate_ready,
)
from mlops_operator.rollout.plan import POLL_SECONDS, Plan

pytestmark = pytest.mark.unit

ROLLED_OUT = RouterRollout(wanted=2, ready=2, updated=2, current_generation_observed=True)


def observed(
    router: RouterRollout = ROLLED_OUT, listed: int = 2, probe: str | None = ""
) -> EndpointObserved:
    return EndpointObserved(service="direct", router=router, listed=listed, probe=probe)


@pytest.mark.parametrize(
    ("router", "listed", "probe", "expected"),
    [
        (
            RouterRollout(wanted=None, ready=0, updated=0, current_generation_observed=False),
            0,
            None,
            "the router Deployment does not exist yet",
        ),
        (
            RouterRollout(wanted=2, ready=0, updated=0, current_generation_observed=False),
            0,
            None,
            "rolling out (0/2 updated)",
        ),
        (
            RouterRollout(wanted=2, ready=0, updated=2, current_generation_observed=True),
            0,
            None,
            "0/2 router pods ready",
        ),
        (ROLLED_OUT, 1, None, "the Service lists 1/2 ready router endpoints"),
        (ROLLED_OUT, 2, None, "not asked yet"),
        (ROLLED_OUT, 2, "/readyz: [Errno 104] Connection reset by peer", "Connection reset"),
    ],
)
def test_each_step_that_does_not_hold_keeps_ready_back_and_says_which(
    router: RouterRollout, listed: int, probe: str | None, expected: str
) -> None:
    problem = endpoint_problem(observed(router, listed, probe), probing=True)
    assert problem is not None
    assert expected in problem
    assert "direct" in problem


def test_ready_when_rolled_out_listed_and_answered() -> None:
    assert endpoint_problem(observed(), probing=True) is None


def test_without_probing_the_rollout_and_the_endpoint_slices_decide() -> None:
    assert endpoint_problem(observed(probe=None), probing=False) is None
    assert endpoint_problem(observed(listed=1, probe=None), probing=False) is not None


def plan(condition: str, requeue_after: float | None = None) -> Plan:
    return Plan(
        weights={"1.0.0": 100},
        stable="1.0.0",
        canary=None,
        state=RolloutState(),
        phase="Succeeded",
        condition=condition,  # type: ignore[arg-type]
        reason="Serving",
        message="1.0.0 serves all traffic",
        events=[("Normal", "Serving", "1.0.0 serves all traffic")],
        requeue_after=requeue_after,
    )


def test_a_ready_plan_is_held_back_and_looked_at_again_soon() -> None:
    held = gate_ready(plan("Ready", requeue_after=30.0), "0/2 router pods ready")
    assert (held.condition, held.reason) == ("Progressing", ENDPOINT_NOT_READY)
    assert (
        held.message
        == "1.0.0 serves all traffic; waiting for the stable endpoint: 0/2 router pods ready"
    )
    assert held.requeue_after == POLL_SECONDS
    # what the rollout decided stays as it is
    assert (held.weights, held.phase, held.events) == (
        {"1.0.0": 100},
        "Succeeded",
        plan("Ready").events,
    )


def test_only_ready_is_gated() -> None:
    assert gate_ready(plan("Ready"), None) == plan("Ready")
    assert gate_ready(plan("Progressing"), "0/2 router pods ready") == plan("Progressing")
    assert gate_ready(plan("Stalled"), "0/2 router pods ready") == plan("Stalled")


class _Ready(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        code = self.answers.pop(0) if self.answers else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"ready": false}' if code != 200 else b'{"ready": true}')

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Ready]]]:
    handler = type("Handler", (_Ready,), {"answers": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_the_probe_needs_every_try_to_answer_200(server: tuple[str, type[_Ready]]) -> None:
    address, handler = server
    assert probe_endpoint(address, tries=2) == ""
    handler.answers = [200, 503]
    assert probe_endpoint(address, tries=2) == '/readyz answered 503: {"ready": false}'


def test_the_probe_says_why_a_connection_failed() -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert "Connection refused" in probe_endpoint(f"127.0.0.1:{port}", tries=1, timeout=1)
