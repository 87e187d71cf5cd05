"""Serving faults: a model server killed (SIGKILL) under load behind the router. Only requests in
flight on that server may fail, and the router sets the dead server aside: over three times its
quarantine, the router's attempts on that one endpoint come in short bursts (the first one at
the kill, then one probe each time the quarantine runs out), never while it is set aside."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import pytest
from reliability_support import (
    CounterRead,
    Figures,
    Scale,
    attempt_bursts,
    attempts_while_set_aside,
)
from serving_support import (
    read_counter,
    records,
    run_router,
    run_server,
    steady_load,
)

from mlops_serving.router_backends import QUARANTINE_S

pytestmark = pytest.mark.reliability

CLIENTS = 8
#: how long the attempts on the killed server are watched: long enough that a router which
#: never set it aside (or for less than its quarantine) shows attempts inside the quarantine
WINDOW_S = 3 * QUARANTINE_S + 1.0
FAILURES = "mlops_router_endpoint_failures_total"


def test_a_server_killed_under_load_costs_at_most_its_requests_in_flight(
    fraud_repository: Path, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    batch = {"instances": records(2, seed=9)}
    failed = in_flight_bound = sent = inside_quarantine = probes = 0
    ejection: list[float] = []
    too_little_load = []

    def predict(client: httpx.Client, _: int) -> httpx.Response:
        return client.post("/v1/models/fraud:predict", json=batch)

    for kill in range(scale.server_kills):
        hosts = [f"127.0.0.{61 + 3 * kill + n}" for n in range(2)]
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(
                    run_server(fraud_repository, host=h, log_dir=tmp_path, PRELOAD_MODELS="fraud")
                )
                for h in hosts
            ]
            dead = f"{servers[1].host}:{servers[1].port}"
            config = {
                "model": "fraud",
                "backends": [
                    {
                        "version": "1.3.0",
                        "weight": 100,
                        "endpoints": [f"{s.host}:{s.port}" for s in servers],
                    }
                ],
            }
            router = stack.enter_context(
                run_router(config, host=f"127.0.0.{63 + 3 * kill}", log_dir=tmp_path)
            )
            with steady_load(router.url, clients=CLIENTS, request=predict) as load:
                time.sleep(2.0)
                before = load.result.sent
                with httpx.Client(base_url=router.url, timeout=5) as client:
                    start = read_counter(client, FAILURES, endpoint=dead)
                    killed_at = time.monotonic()
                    servers[1].process.kill()
                    servers[1].process.wait()
                    reads = [start, *_reads(client, dead, seconds=WINDOW_S)]
            result = load.result
        if result.sent - before <= 20:
            too_little_load.append(kill)
        sent += result.sent
        failed += result.errors
        # at most one request per client can have been on the killed server at the kill
        in_flight_bound += CLIENTS
        # seen by the end of the read that found them: never earlier than they were made
        counted = [(read.ended, read.value - start.value) for read in reads[1:]]
        bursts = attempt_bursts(counted)
        ejection.append((bursts[0][1] if bursts else killed_at) - killed_at)
        inside_quarantine += attempts_while_set_aside(reads, QUARANTINE_S)
        probes += max(0, len(bursts) - 1)

    section = "Serving faults"
    worst = max(ejection)
    figures.record(section, "servers killed under load", scale.server_kills)
    figures.record(section, "requests sent through the router", sent)
    figures.record(
        section,
        "requests failed",
        failed,
        target=f"≤ requests in flight on the killed server (≤ {in_flight_bound})",
        met=failed <= in_flight_bound,
    )
    figures.record(
        section,
        "seconds from the kill until the router stopped trying the killed server (worst)",
        round(worst, 2),
        target=f"< {QUARANTINE_S:.0f} (its quarantine)",
        met=worst < QUARANTINE_S,
    )
    figures.record(
        section,
        f"attempts on the killed server while set aside, over {WINDOW_S:.0f} s after each kill",
        inside_quarantine,
        target="0",
        met=inside_quarantine == 0,
    )
    figures.record(section, "probes of the killed server as its quarantine ran out", probes)
    assert not too_little_load, f"too little load after kill(s) {too_little_load}"
    assert failed <= in_flight_bound, failed
    assert worst < QUARANTINE_S, ejection
    assert inside_quarantine == 0


def _reads(client: httpx.Client, endpoint: str, *, seconds: float) -> list[CounterRead]:
    """The router's failed attempts on ``endpoint`` so far, read every 50 ms."""
    reads = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        reads.append(read_counter(client, FAILURES, endpoint=endpoint))
        time.sleep(0.05)
    return reads
