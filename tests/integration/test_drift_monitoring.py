"""Drift read from real model server pods on loopback, combined, turned into DriftDetected and
alerts delivered to a real receiver; a replacement reference checked and used by a server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from test_serving_models import FEATURES, ServerProcess, run_server, tabular_data, train_tabular

from alert_receivers import http_receiver
from mlops_core.reference_stats import (
    FORMAT_VERSION,
    ReferenceStats,
    categorical_stats,
    numeric_stats,
)
from mlops_core.serving_spec import DriftSpec
from mlops_core.storage import ObjectStore, join_uri, open_store
from mlops_devcluster.cluster import DevCluster
from mlops_operator.abtest.verdict import ArmCounts
from mlops_operator.adapters.ab_counts import read_accuracy
from mlops_operator.adapters.alert_senders import AlertSender
from mlops_operator.adapters.drift_reader import (
    PodEndpoint,
    check_drift_reference,
    read_version_drift,
)
from mlops_operator.alerting.alerts import ObjectRef
from mlops_operator.alerting.decisions import plan, record
from mlops_operator.alerting.messages import build_message
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.conditions import Condition
from mlops_operator.api.monitoring import AlertChannel
from mlops_operator.monitoring.drift_status import combine, drift_alerts, drift_condition

pytestmark = pytest.mark.integration

SHIFT = 90.0  # amount moves 3 standard deviations
MONITORING = DriftSpec(method="psi", threshold=0.2, window_size=200)
REF = ObjectRef(kind="Deployment", namespace="fraud", name="scorer")
DRIFT_ENV = {
    "PRELOAD_MODELS": "fraud:1.0.0",
    "DRIFT_DETECTION_METHOD": "psi",
    "DRIFT_WINDOW_SIZE": "200",
    "DRIFT_MIN_SAMPLES": "50",
    "DRIFT_SAMPLE_PER_BATCH": "1000",
}


def _shifted_reference(shift: float, *, drop: str | None = None) -> ReferenceStats:
    data = tabular_data(3000, seed=5, shift=shift)
    features = [
        categorical_stats(name, data[name])  # type: ignore[arg-type]
        if name == "segment"
        else numeric_stats(name, data[name])  # type: ignore[arg-type]
        for name in FEATURES
        if name != drop
    ]
    return ReferenceStats(format_version=FORMAT_VERSION, features=features)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    train_tabular(open_store(str(root / "fraud" / "1.0.0")), version="1.0.0", epochs=20)
    return root


@contextlib.contextmanager
def _servers(
    repository: Path, logs: Path, *hosts: str, **env: str
) -> Iterator[list[ServerProcess]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(run_server(repository, host=h, log_dir=logs, **DRIFT_ENV, **env))
            for h in hosts
        ]


def _send(server: ServerProcess, n: int, *, shift: float, seed: int) -> None:
    data = tabular_data(n, seed=seed, shift=shift)
    instances = [{f: data[f][i] for f in FEATURES} for i in range(n)]
    answer = httpx.post(
        f"{server.url}/v1/models/fraud/versions/1.0.0:predict",
        json={"instances": instances},
        timeout=30,
    )
    answer.raise_for_status()


def test_shifted_inputs_fire_a_drift_alert_and_normal_ones_resolve_it(
    repository: Path, tmp_path: Path
) -> None:
    channel = AlertChannel(name="hook", type="webhook", url="http://127.0.0.1:9/", events=["drift"])
    with (
        _servers(repository, tmp_path, "127.0.0.2", "127.0.0.3") as servers,
        http_receiver() as receiver,
    ):
        channel = channel.model_copy(update={"url": receiver.url})
        pods = [PodEndpoint(f"pod-{i}", f"{s.host}:{s.port}") for i, s in enumerate(servers)]
        sender = AlertSender(lambda namespace, name: {})
        records: list[AlertRecord] = []
        conditions: list[Condition] = []
        now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

        def look(shift: float, seed: int) -> str:
            nonlocal records, conditions, now
            _send(servers[0], 200, shift=shift, seed=seed)
            _send(servers[1], 250, shift=shift, seed=seed + 1)
            observed = read_version_drift(pods, model="fraud", version="1.0.0")
            assert observed.unreadable == []
            report = combine(observed, monitoring=MONITORING, now=now)
            assert report.pods == 2
            conditions = drift_condition(conditions, [report], observed_generation=1, now=now)
            records, due = plan(records, drift_alerts(REF, [report]), [channel], now=now)
            outcomes = [
                sender.send(d.channel, build_message(d.record, d.alert, REF), namespace="fraud")
                for d in due
            ]
            records = record(records, outcomes, [channel], now=now)
            now += timedelta(seconds=30)
            return conditions[0].status

        assert look(0.0, seed=10) == "False"
        assert receiver.received == []
        assert look(SHIFT, seed=20) == "True"
        assert conditions[0].reason == "DriftDetected"
        assert "amount" in conditions[0].message
        assert look(SHIFT, seed=30) == "True"  # still drifting: no second alert
        assert look(0.0, seed=40) == "False"  # the windows (200) hold only normal inputs again
    bodies = receiver.bodies()
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    assert bodies[0]["alerts"][0]["labels"]["version"] == "1.0.0"
    assert float(bodies[0]["alerts"][0]["annotations"]["figure_score"]) > 0.2
    assert records == []


def test_a_replacement_reference_is_checked_and_then_scored_against(
    repository: Path, tmp_path: Path, devcluster: DevCluster, s3_prefix: str
) -> None:
    """A reference lives in the object store (a Deployment's ``monitoring.reference`` is an
    s3:// URI, and the server reads it with the contract's bounds)."""
    client = boto3.client(
        "s3",
        endpoint_url=devcluster.s3_endpoint,
        aws_access_key_id=devcluster.s3_access_key,
        aws_secret_access_key=devcluster.s3_secret_key,
        region_name="us-east-1",
    )

    def store(uri: str) -> ObjectStore:
        return open_store(uri, client=client)

    refs = store(join_uri(s3_prefix, "refs"))
    refs.write_bytes("shifted.json", _shifted_reference(SHIFT).to_json())
    refs.write_bytes("no-age.json", _shifted_reference(SHIFT, drop="age").to_json())
    artifact = str(repository / "fraud" / "1.0.0")
    good = join_uri(s3_prefix, "refs", "shifted.json")
    bad = join_uri(s3_prefix, "refs", "no-age.json")
    assert check_drift_reference(store, reference_uri=good, artifact_uri=artifact) is None
    problem = check_drift_reference(store, reference_uri=bad, artifact_uri=artifact)
    assert problem is not None
    assert "missing feature 'age'" in problem
    missing = check_drift_reference(
        store, reference_uri=join_uri(s3_prefix, "refs", "none.json"), artifact_uri=artifact
    )
    assert missing is not None
    assert "cannot read" in missing

    with _servers(
        repository, tmp_path, "127.0.0.4", DRIFT_REFERENCE_URI=good, **devcluster.s3_env()
    ) as (server,):
        _send(server, 200, shift=SHIFT, seed=50)
        pod = PodEndpoint("pod", f"{server.host}:{server.port}")
        (report,) = read_version_drift([pod], model="fraud", version="1.0.0").reports
        correct = _predict_with_feedback(server, 60, seed=60)
        tallies = read_accuracy([pod, PodEndpoint("gone", "127.0.0.9:9")], model="fraud")
    assert report.reference == good
    assert report.max_score is not None
    assert report.max_score < 0.2  # shifted inputs match the shifted reference
    assert tallies.counts == [ArmCounts("1.0.0", 60, correct)]
    assert [u.split(":")[0] for u in tallies.unreadable] == ["gone"]


def _predict_with_feedback(server: ServerProcess, n: int, *, seed: int) -> int:
    """Predict ``n`` records, post their true labels; the number predicted right."""
    data = tabular_data(n, seed=seed)
    instances = [{f: data[f][i] for f in FEATURES} for i in range(n)]
    answer = httpx.post(
        f"{server.url}/v1/models/fraud/versions/1.0.0:predict",
        json={"instances": instances},
        timeout=30,
    ).json()
    correct = 0
    for prediction_id, predicted, truth in zip(
        answer["predictionIds"], answer["predictions"], data["label"], strict=True
    ):
        posted = httpx.post(
            f"{server.url}/v1/feedback",
            json={"predictionId": prediction_id, "trueLabel": truth},
            timeout=10,
        )
        posted.raise_for_status()
        correct += int(predicted == truth)
    return correct


@contextlib.contextmanager
def _hung_pod() -> Iterator[str]:
    """A pod that accepts connections and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_hung_pods_cost_one_timeout_not_one_each() -> None:
    with _hung_pod() as first, _hung_pod() as second, _hung_pod() as third:
        pods = [PodEndpoint(f"hung-{n}", a) for n, a in enumerate((first, second, third))]
        started = time.monotonic()
        drift = read_version_drift(pods, model="fraud", version="1.0.0", timeout=2.0)
        elapsed = time.monotonic() - started
    assert [u.split(":")[0] for u in drift.unreadable] == ["hung-0", "hung-1", "hung-2"]
    # one after another would take 3 timeouts (6 s)
    assert elapsed < 4.0, f"{elapsed:.1f}s: the pods were read one after another"
