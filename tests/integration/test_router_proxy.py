"""A real router process in front of real model servers on distinct loopback IPs."""

from __future__ import annotations

import contextlib
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from test_serving_models import (
    ServerProcess,
    build_repository,
    free_port,
    run_process,
    run_server,
)
from test_serving_server import RECORD, metric

from mlops_devcluster.local_operator import wait_until

pytestmark = pytest.mark.integration

PREDICT = "/v1/models/fraud:predict"


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def servers(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServerProcess]]:
    root = repository
    logs = tmp_path_factory.mktemp("logs")
    with (
        run_server(
            root,
            host="127.0.0.11",
            log_dir=logs,
            MODEL_VERSIONS="fraud:1.0.0",
            PRELOAD_MODELS="fraud",
        ) as stable,
        run_server(
            root,
            host="127.0.0.12",
            log_dir=logs,
            MODEL_VERSIONS="fraud:1.1.0",
            PRELOAD_MODELS="fraud",
        ) as canary,
    ):
        yield {"1.0.0": stable, "1.1.0": canary}


def write_config(path: Path, config: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(path)  # atomic, like a ConfigMap symlink swap


def use_config(process: ServerProcess, path: Path, config: dict[str, object]) -> None:
    """Write the router's config and wait until the router routes by its weights."""
    write_config(path, config)
    backends = cast(list[dict[str, object]], config["backends"])
    weights = {b["version"]: b["weight"] for b in backends}
    wait_until(
        lambda: httpx.get(process.url + "/readyz").json()["weights"] == weights,
        timeout=30,
        what=f"the router to take weights {weights}",
        interval=0.05,
    )


def split_config(
    servers: dict[str, ServerProcess], stable: int, canary: int, **extra: object
) -> dict[str, object]:
    dead = f"127.0.0.13:{free_port('127.0.0.13')}"  # nothing listens there
    return {
        "model": "fraud",
        "backends": [
            {
                "version": "1.0.0",
                "weight": stable,
                "endpoints": [dead, f"{servers['1.0.0'].host}:{servers['1.0.0'].port}"],
            },
            {
                "version": "1.1.0",
                "weight": canary,
                "endpoints": [f"{servers['1.1.0'].host}:{servers['1.1.0'].port}"],
            },
        ],
        **extra,
    }


@pytest.fixture
def router(
    servers: dict[str, ServerProcess], tmp_path: Path
) -> Iterator[tuple[ServerProcess, Path]]:
    config = tmp_path / "router.json"
    write_config(config, split_config(servers, 90, 10))
    env = {"ROUTER_CONFIG_FILE": str(config), "ROUTER_CONFIG_POLL_SECONDS": "0.1"}
    with run_process(
        "route", host="127.0.0.14", env=env, log_dir=tmp_path, ready_path="/readyz"
    ) as process:
        yield process, config


def versions_of(client: httpx.Client, n: int, **headers: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        answer = client.post(PREDICT, json={"instances": [RECORD]}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-mlops-version"] == answer.json()["version"]
        seen[answer.json()["version"]] += 1
    return seen


def test_weighted_split_retries_dead_endpoints_and_exports_metrics(
    router: tuple[ServerProcess, Path],
) -> None:
    process, _ = router
    with httpx.Client(base_url=process.url, timeout=30) as client:
        seen = versions_of(client, 600)
        share = seen["1.1.0"] / 600
        assert 0.05 < share < 0.15, seen
        text = client.get("/metrics").text
    assert metric(text, "mlops_router_requests_total", version="1.0.0", code="200") == seen["1.0.0"]
    assert metric(text, "mlops_router_requests_total", version="1.1.0", code="200") == seen["1.1.0"]
    assert (
        metric(text, "mlops_router_request_duration_seconds_count", version="1.1.0")
        == seen["1.1.0"]
    )
    assert metric(text, "mlops_router_backend_retries_total", version="1.0.0") >= 1


def test_sticky_header_pins_callers(
    router: tuple[ServerProcess, Path], servers: dict[str, ServerProcess]
) -> None:
    process, config = router
    use_config(process, config, split_config(servers, 50, 50, stickyHeader="x-user"))
    with httpx.Client(base_url=process.url, timeout=30) as client:
        per_user = {u: versions_of(client, 5, **{"x-user": f"user-{u}"}) for u in range(12)}
    assert all(len(seen) == 1 for seen in per_user.values())
    assert {v for seen in per_user.values() for v in seen} == {"1.0.0", "1.1.0"}


def test_config_reload_and_invalid_config_keeps_the_last_good_one(
    router: tuple[ServerProcess, Path], servers: dict[str, ServerProcess]
) -> None:
    process, config = router
    use_config(process, config, split_config(servers, 0, 100))
    with httpx.Client(base_url=process.url, timeout=30) as client:
        assert versions_of(client, 20) == Counter({"1.1.0": 20})
        config.write_text('{"model": "fraud", "backends": []}')
        wait_until(
            lambda: client.get("/readyz").json()["configError"] is not None,
            timeout=30,
            what="the invalid config reported",
            interval=0.05,
        )
        ready = client.get("/readyz").json()
        assert "at least 1" in ready["configError"]
        assert ready["weights"] == {"1.0.0": 0, "1.1.0": 100}  # the last good one
        assert versions_of(client, 10) == Counter({"1.1.0": 10})


def test_mirror_copies_traffic_and_drops_the_answers(
    router: tuple[ServerProcess, Path], servers: dict[str, ServerProcess]
) -> None:
    process, config = router
    mirror = {"version": "1.1.0", "percent": 100}
    use_config(process, config, split_config(servers, 100, 0, mirror=mirror))
    canary = servers["1.1.0"]
    before = metric(
        httpx.get(canary.url + "/metrics").text,
        "ml_predictions_total",
        model="fraud",
        version="1.1.0",
    )

    def copies() -> dict[str, float]:
        """Copies sent to the mirror so far, by outcome (ok, error, dropped)."""
        text = httpx.get(process.url + "/metrics").text
        found = {}
        for outcome in ("ok", "error", "dropped"):
            name = "mlops_router_mirror_requests_total"
            with contextlib.suppress(AssertionError):  # not counted yet
                found[outcome] = metric(text, name, version="1.1.0", outcome=outcome)
        return found

    with httpx.Client(base_url=process.url, timeout=30) as client:
        assert versions_of(client, 20) == Counter({"1.0.0": 20})
    # the copies go out in the background, after the answers: wait for all 20 to be settled
    wait_until(
        lambda: sum(copies().values()) >= 20, timeout=30, what="20 copies sent", interval=0.05
    )
    after = metric(
        httpx.get(canary.url + "/metrics").text,
        "ml_predictions_total",
        model="fraud",
        version="1.1.0",
    )
    assert after - before == 20
    assert copies() == {"ok": 20}


def test_paths_and_versioned_requests(router: tuple[ServerProcess, Path]) -> None:
    process, _ = router
    with httpx.Client(base_url=process.url, timeout=30) as client:
        elsewhere = client.get("/elsewhere")
        assert elsewhere.status_code == 404
        assert "/elsewhere" in elsewhere.json()["error"]
        pinned = client.post(
            "/v1/models/fraud/versions/1.1.0:predict", json={"instances": [RECORD]}
        )
        assert pinned.json()["version"] == "1.1.0"
        assert (
            client.post("/mlops/predict", json={"modelId": "fraud", "input": RECORD}).status_code
            == 200
        )
        assert client.get("/v2/models/fraud/ready").status_code == 200
        bad = client.post(PREDICT, json={"instances": [[1]]})
        assert bad.status_code == 400  # the server's answer passes through
        assert "takes 4" in bad.json()["error"]


def _raw(process: ServerProcess, payload: bytes) -> bytes:
    with socket.create_connection((process.host, process.port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_router_front_handles_bad_and_unusual_requests(router: tuple[ServerProcess, Path]) -> None:
    process, _ = router
    assert _raw(process, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = b"x" * (9 * 1024 * 1024)
    head = b"POST /v1/models/fraud:predict HTTP/1.1\r\nhost: r\r\ncontent-length: %d\r\n\r\n"
    assert _raw(process, head % len(big) + big).startswith(b"HTTP/1.1 413")
    body = json.dumps({"instances": [RECORD]}).encode()
    request = (
        b"POST /v1/models/fraud:predict HTTP/1.1\r\nhost: r\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    closing = request.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nconnection: close\r\n", 1)
    answers = _raw(process, request + closing)  # two pipelined requests, the second closes
    assert answers.count(b"HTTP/1.1 200 OK") == 2
    assert b"connection: close" in answers
    with httpx.Client(base_url=process.url, timeout=30) as client:  # still serving
        expect = client.post(
            PREDICT, json={"instances": [RECORD]}, headers={"expect": "100-continue"}
        )
        assert expect.status_code == 200
        assert client.get("/healthz").json() == {"live": True}


def test_explaining_a_prediction_by_its_id_goes_to_the_version_that_made_it(
    router: tuple[ServerProcess, Path], servers: dict[str, ServerProcess]
) -> None:
    process, config = router
    use_config(process, config, split_config(servers, 50, 50))  # a canary at half the traffic
    made: dict[str, str] = {}  # version -> the id of a prediction it made
    with httpx.Client(base_url=process.url, timeout=120) as client:
        while len(made) < 2:
            answer = client.post(PREDICT, json={"instances": [RECORD]}).json()
            made.setdefault(answer["version"], answer["predictionIds"][0])
        for version, prediction_id in made.items():
            for _ in range(3):  # the split would send some of them to the other version
                explained = client.post(
                    "/v1/models/fraud:explain",
                    json={"instances": [RECORD]},
                    headers={"x-mlops-prediction-id": prediction_id},
                )
                assert explained.status_code == 200, explained.text
                assert explained.json()["version"] == version
                assert explained.headers["x-mlops-version"] == version


def test_feedback_reaches_the_version_that_made_the_prediction_without_a_sticky_header(
    router: tuple[ServerProcess, Path], servers: dict[str, ServerProcess]
) -> None:
    process, config = router
    use_config(process, config, split_config(servers, 50, 50))
    made: dict[str, list[str]] = {"1.0.0": [], "1.1.0": []}  # version -> ids of its predictions
    with httpx.Client(base_url=process.url, timeout=60) as client:
        while min(len(ids) for ids in made.values()) < 6:
            answer = client.post(PREDICT, json={"instances": [RECORD]}).json()
            made[answer["version"]].append(answer["predictionIds"][0])
        for version, ids in made.items():
            for prediction_id in ids[:6]:  # by the split alone, 1 in 2 would miss
                labelled = client.post(
                    "/v1/feedback", json={"predictionId": prediction_id, "trueLabel": "1"}
                )
                assert labelled.status_code == 200, labelled.text
                assert labelled.json()["version"] == version
                assert labelled.headers["x-mlops-version"] == version


def test_feedback_finds_the_replica_that_made_the_prediction(
    router: tuple[ServerProcess, Path],
    servers: dict[str, ServerProcess],
    repository: Path,
    tmp_path: Path,
) -> None:
    """Two replicas of one version: the router takes predictions to both in turn, and each
    prediction's feedback to the replica that keeps its record."""
    process, config = router
    with run_server(
        repository,
        host="127.0.0.15",
        log_dir=tmp_path,
        MODEL_VERSIONS="fraud:1.0.0",
        PRELOAD_MODELS="fraud",
    ) as replica:
        endpoints = [f"{s.host}:{s.port}" for s in (servers["1.0.0"], replica)]
        use_config(
            process,
            config,
            {
                "model": "fraud",
                "backends": [{"version": "1.0.0", "weight": 100, "endpoints": endpoints}],
            },
        )
        with httpx.Client(base_url=process.url, timeout=60) as client:
            ids = [
                client.post(PREDICT, json={"instances": [RECORD]}).json()["predictionIds"][0]
                for _ in range(8)
            ]
            # the predictions went to the replicas in turn; their feedback, in reverse, would
            # reach the other replica each time by the turn alone
            for prediction_id in reversed(ids):
                labelled = client.post(
                    "/v1/feedback", json={"predictionId": prediction_id, "trueLabel": "1"}
                )
                assert labelled.status_code == 200, labelled.text
            again = client.post("/v1/feedback", json={"predictionId": ids[0], "trueLabel": "1"})
            assert again.status_code == 404, again.text  # no replica takes it twice
            assert "already has feedback" in again.text
        labelled = metric(
            httpx.get(replica.url + "/metrics").text,
            "ml_feedback_total",
            model="fraud",
            version="1.0.0",
        )
        assert labelled >= 1  # the new replica made some of the predictions and got their feedback
