"""A/B tests, drift and alerts end to end: two trained versions of the breast-cancer example
behind the router; a client that only ever sends one header value stopping a test on its
sample ratio; a client sending sticky requests and posting the true labels until the test
names the better version and promotes it; shifted inputs raising DriftDetected and one alert,
which an operator restart does not send again, and normal inputs resolving it.

The alerts go to a real HTTP receiver on the test machine's loopback (the operator runs there).
"""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from deployment_support import (
    EXAMPLES,
    MODEL,
    ServingOperator,
    apply,
    condition,
    stable_address,
    train_ready_versions,
    wait_ready,
    wait_status,
)
from deployment_support import status as deployment_status
from e2e_support import tabular_training_job

from alert_receivers import HttpReceiver, http_receiver
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: the module's namespace (the ``ns`` fixture): ab-<random>
NAMESPACE_PREFIX = "ab"

WORSE, BETTER = "1.0.0", "1.1.0"
#: (learning rate, epochs, seed): ~0.55 and ~0.98 test accuracy
TRAINING = {WORSE: (1e-6, 1, 7), BETTER: (0.05, 5, 42)}


def _rows() -> list[tuple[list[float], str]]:
    with (EXAMPLES / "data" / "breast-cancer" / "test.csv").open() as handle:
        reader = csv.reader(handle)
        next(reader)
        return [([float(v) for v in row[:-1]], row[-1]) for row in reader]


ROWS = _rows()


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def labelled_requests(
    address: str, n: int, *, users: int, start: int = 0, scale: float = 1.0
) -> int:
    """``n`` predictions through the router, each followed by its true label posted with the same
    sticky header (so it reaches the pod that predicted); returns the labels accepted."""
    accepted = 0
    for i in range(start, start + n):
        features, label = ROWS[i % len(ROWS)]
        header = {"x-user-id": f"user-{i % users}"}
        code, answer = _post(
            f"http://{address}/v1/models/{MODEL}:predict",
            {"instances": [[v * scale for v in features]]},
            header,
        )
        if code != 200:
            continue
        feedback = {"predictionId": answer["predictionIds"][0], "trueLabel": label}
        code, _ = _post(f"http://{address}/v1/feedback", feedback, header)
        accepted += int(code == 200)
    return accepted


@pytest.fixture(scope="module")
def versions(devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator) -> None:
    """A clearly worse and a clearly better version of the breast-cancer model, Ready."""
    jobs = {}
    for version, (rate, epochs, seed) in TRAINING.items():
        job = tabular_training_job(
            f"bc-{version.replace('.', '-')}",
            training={"epochs": epochs, "batchSize": 64, "seed": seed},
            registration={"version": version},
        )
        job["spec"]["model"] = {
            "architecture": "logistic_regression",
            "optimizer": {"learningRate": rate},
        }
        jobs[version] = job
    train_ready_versions(devcluster, admin, ns, jobs, timeout=300)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as started:
        yield started


def ab_deployment(name: str, *, alerts: list[dict[str, Any]], **ab: Any) -> dict[str, Any]:
    """examples/deployments/ab-test.yaml for the two versions, with small samples."""
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / "deployments" / "ab-test.yaml").read_text())
    body["metadata"]["name"] = name
    spec = body["spec"]
    spec["model"] = MODEL
    spec["resources"] = {"cpu": "250m", "memory": "1Gi"}
    spec["strategy"]["abTest"].update(
        {
            "variants": [{"version": WORSE, "weight": 50}, {"version": BETTER, "weight": 50}],
            "minSamples": 30,
            "maxSamples": 2000,
            "intervalSeconds": 5,
            **ab,
        }
    )
    spec["monitoring"] = {
        "method": "wasserstein",
        "threshold": 1.0,
        "windowSize": 30,
        "intervalSeconds": 5,
    }
    spec["alerts"] = alerts
    return body


def _router(admin: Kube, ns: str, name: str) -> str:
    """The stable endpoint once the A/B Deployment is Ready (pods start slowly on a busy
    machine); a timeout lists the pods. The callers send right away, and every request of
    their first batch must succeed."""
    wait_ready(admin, ns, name, timeout=240, what="the A/B Deployment Ready")
    return stable_address(admin, ns, name)


def delete_deployment(devcluster: DevCluster, ns: str, name: str) -> None:
    devcluster.kubectl("delete", "-n", ns, "deployments.mlops.dev", name, "--wait=false")


def _model_version_stage(admin: Kube, ns: str, version: str) -> str:
    for mv in admin.list(API_VERSION, "ModelVersion", ns):
        if mv["spec"]["version"] == version:
            return str(mv["spec"]["stage"])
    return ""


def _bodies(receiver: HttpReceiver, event: str) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b["commonLabels"]["event"] == event]


def test_a_split_that_does_not_match_the_weights_stops_the_test(
    devcluster: DevCluster, admin: Kube, ns: str, versions: None, operator: ServingOperator
) -> None:
    name = "bc-ab-broken"
    apply(devcluster, ns, ab_deployment(name, alerts=[], promoteWinner=False))
    address = _router(admin, ns, name)
    assert labelled_requests(address, 20, users=1) == 20  # Ready: the endpoint answers at once
    for sent in range(20, 200, 20):
        labelled_requests(address, 20, users=1, start=sent)  # one caller: one arm only
        if (deployment_status(admin, ns, name).get("abTest") or {}).get("concluded"):
            break
    status = wait_status(
        admin,
        ns,
        name,
        lambda s: (s.get("abTest") or {}).get("concluded"),
        timeout=30,
        what="the test stopped",
    )
    ab = status["abTest"]
    assert ab["decision"] == "SampleRatioMismatch", ab
    assert ab.get("winner") is None
    assert "do not match the weights 50/50" in ab["reason"]
    wait_status(
        admin,
        ns,
        name,
        lambda s: any(
            (c["type"], c["status"], c["reason"]) == ("Stalled", "True", "SampleRatioMismatch")
            for c in s["conditions"]
        ),
        timeout=30,
        what="Stalled with the sample ratio reason",
    )
    delete_deployment(devcluster, ns, name)  # its pods go: the next test's start sooner


def test_ab_test_names_and_promotes_the_winner_then_drift_alerts_once_across_a_restart(
    devcluster: DevCluster,
    admin: Kube,
    ns: str,
    versions: None,
    operator: ServingOperator,
    receiver: HttpReceiver,
) -> None:
    name = "bc-ab"
    hook = {
        "name": "hook",
        "type": "webhook",
        "url": receiver.url,
        "events": ["drift", "promotion"],
    }
    apply(devcluster, ns, ab_deployment(name, alerts=[hook]))
    address = _router(admin, ns, name)
    assert labelled_requests(address, 40, users=997) == 40  # Ready: it answers at once
    for sent in range(40, 1200, 40):
        labelled_requests(address, 40, users=997, start=sent)
        if (deployment_status(admin, ns, name).get("abTest") or {}).get("concluded"):
            break
    status = wait_status(
        admin,
        ns,
        name,
        lambda s: (s.get("abTest") or {}).get("concluded"),
        timeout=30,
        what="the A/B verdict",
    )
    ab = status["abTest"]
    assert ab["decision"] == "Winner", ab
    assert ab["winner"] == BETTER
    assert [arm["version"] for arm in ab["arms"]] == [WORSE, BETTER]
    assert all(arm["samples"] >= 30 for arm in ab["arms"])
    assert ab["pValue"] <= 0.05
    wait_status(
        admin,
        ns,
        name,
        lambda s: s["abTest"].get("promoted") and s.get("trafficSummary") == f"{BETTER}=100",
        timeout=60,
        what="the winner promoted and serving all traffic",
    )
    assert _model_version_stage(admin, ns, BETTER) == "production"
    wait_until(lambda: _bodies(receiver, "promotion"), timeout=60, what="the promotion alert")

    # shifted inputs: every feature three times its value
    labelled_requests(address, 40, users=997, scale=3.0)
    wait_status(
        admin,
        ns,
        name,
        lambda s: any(
            c["type"] == "DriftDetected" and c["status"] == "True" for c in s["conditions"]
        ),
        timeout=60,
        what="DriftDetected",
    )
    firing = wait_until(lambda: _bodies(receiver, "drift"), timeout=30, what="the drift alert")
    assert firing[0]["status"] == "firing"
    assert firing[0]["alerts"][0]["labels"]["version"] == BETTER
    # delivery is at least once: the restart below may resend only an alert whose delivery the
    # operator had not yet written to status, so it waits for that record
    wait_status(
        admin,
        ns,
        name,
        lambda s: any(
            r["event"] == "drift"
            and any(
                (d["channel"], d["state"], d["result"]) == ("hook", "firing", "Delivered")
                for d in r.get("deliveries", [])
            )
            for r in s.get("alerts", [])
        ),
        timeout=30,
        what="the drift alert's delivery recorded",
    )

    operator.kill()
    operator.start()
    labelled_requests(address, 5, users=997, scale=3.0)  # still drifting after the restart
    time.sleep(12)  # two drift intervals of the restarted operator
    assert len(_bodies(receiver, "drift")) == 1
    assert len(_bodies(receiver, "promotion")) == 1

    labelled_requests(address, 40, users=997)  # normal inputs fill the windows again
    wait_status(
        admin,
        ns,
        name,
        lambda s: any(
            c["type"] == "DriftDetected" and c["status"] == "False" for c in s["conditions"]
        ),
        timeout=60,
        what="DriftDetected=False",
    )
    drift = wait_until(
        lambda: (found := _bodies(receiver, "drift")) and len(found) == 2 and found,
        timeout=30,
        what="the resolved notice",
    )
    assert [b["status"] for b in drift] == ["firing", "resolved"]
    assert len(_bodies(receiver, "promotion")) == 1
    assert condition(admin, ns, name, "DriftDetected")["reason"] == "NoDrift"
