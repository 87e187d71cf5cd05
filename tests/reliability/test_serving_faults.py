"""Serving faults: a model server killed (SIGKILL) under load behind the router. Only requests in
flight on that server may fail, and the router stops sending to it within its retry window."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import pytest
from reliability_support import Figures, Scale
from serving_support import metric_total, records, run_router, run_server, steady_load

from mlops_serving.router_backends import QUARANTINE_S

pytestmark = pytest.mark.reliability

CLIENTS = 8


def test_a_server_killed_under_load_costs_at_most_its_requests_in_flight(
    fraud_repository: Path, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    batch = {"instances": records(2, seed=9)}
    failed = in_flight_bound = sent = retries_after = 0
    ejection: list[float] = []

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
                killed_at = time.monotonic()
                servers[1].process.kill()
                servers[1].process.wait()
                retries = _sample_retries(router.url, seconds=QUARANTINE_S * 0.8)
                time.sleep(1.0)
            result = load.result
        assert result.sent - before > 20, "too little load after the kill"
        sent += result.sent
        failed += result.errors
        # at most one request per client can have been on the killed server at the kill
        in_flight_bound += CLIENTS
        settled = _settled_at(retries)
        ejection.append(settled - killed_at)
        retries_after += int(retries[-1][1] - _value_at(retries, settled))
        assert result.errors <= CLIENTS, result.failures

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
        "seconds until the router stopped trying the killed server (worst)",
        round(worst, 2),
        target=f"< {QUARANTINE_S:.0f} (its retry window)",
        met=worst < QUARANTINE_S,
    )
    figures.record(
        section, "attempts on the killed server after that, in its window", retries_after
    )
    assert worst < QUARANTINE_S
    assert retries_after == 0


def _sample_retries(url: str, *, seconds: float) -> list[tuple[float, float]]:
    """(time, router retries so far) every 50 ms for ``seconds``."""
    samples = []
    end = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < end:
            text = client.get("/metrics").text
            samples.append(
                (time.monotonic(), metric_total(text, "mlops_router_backend_retries_total"))
            )
            time.sleep(0.05)
    return samples


def _settled_at(samples: list[tuple[float, float]]) -> float:
    """When the retry count last changed (the router had stopped trying the dead server)."""
    last = samples[-1][1]
    for at, value in samples:
        if value == last:
            return at
    return samples[-1][0]


def _value_at(samples: list[tuple[float, float]], when: float) -> float:
    return next(value for at, value in samples if at >= when)
