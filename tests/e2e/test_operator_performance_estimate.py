"""Accuracy estimated without labels, end to end: a calibrated version of the breast-cancer
example served by a direct Deployment; its inputs shift until it is really wrong more often,
and the operator says so (``PerformanceDegraded=True``, one performance alert to a real HTTP
receiver) before a single label exists; the true labels posted afterwards show the realized
accuracy inside the estimate's interval.

The shift is a covariate shift that keeps every row's true label: the traffic moves from the
whole held-out test split to the tumours nearest the model's decision boundary, the
``WINDOW`` test rows it answered with the least confidence. They are chosen by the model's
answers to the inputs alone, never by their labels, so ``P(label | input)`` does not change
and the calibration still holds; only the inputs' distribution moved.
"""

from __future__ import annotations

import csv
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from deployment_support import (
    EXAMPLES,
    MODEL,
    ServingOperator,
    apply,
    condition,
    example,
    stable_address,
    train_ready_versions,
    wait_ready,
    wait_status,
)
from e2e_support import DATA, tabular_training_job

from alert_receivers import HttpReceiver, http_receiver
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: the module's namespace (the ``ns`` fixture): cbpe-<random>
NAMESPACE_PREFIX = "cbpe"

VERSION = "1.0.0"
#: predictions per estimate (monitoring.windowSize), and the drifted traffic's length
WINDOW = 15
MARGIN = 0.05
DEPLOYMENT = "bc-estimate"


def _test_rows() -> list[tuple[list[float], str]]:
    """The held-out test split: (features, true label) per tumour."""
    with (EXAMPLES / "data" / "breast-cancer" / "test.csv").open() as handle:
        reader = csv.reader(handle)
        next(reader)
        return [([float(v) for v in row[:-1]], row[-1]) for row in reader]


def _post(address: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        found: dict[str, Any] = json.loads(answer.read())
        return found


def _predict(address: str, features: list[float]) -> tuple[str, float]:
    """One prediction through the router: its id and the model's confidence in it."""
    answer = _post(address, f"/v1/models/{MODEL}:predict", {"instances": [features]})
    assert answer["version"] == VERSION
    return answer["predictionIds"][0], max(answer["probabilities"][0])


def _performance(status: dict[str, Any]) -> dict[str, Any]:
    found = [p for p in status.get("performance") or [] if p["version"] == VERSION]
    return found[0] if found else {}


def _performance_condition(status: dict[str, Any]) -> tuple[str, str]:
    for c in status.get("conditions", []):
        if c["type"] == "PerformanceDegraded":
            return c["status"], c["reason"]
    return "", ""


def _alerts(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b["commonLabels"]["event"] == "performance"]


@pytest.fixture(scope="module")
def calibrated_version(
    devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator
) -> None:
    """A logistic regression with ~0.98 test accuracy, its temperature fitted on validation
    (the trainer publishes calibration.json) and its test accuracy measured (metrics.json)."""
    job = tabular_training_job(
        "bc-calibrated",
        training={"epochs": 5, "batchSize": 64, "seed": 42},
        registration={"version": VERSION},
    )
    job["spec"]["dataset"]["test"] = f"{DATA}/test.csv"
    job["spec"]["model"] = {
        "architecture": "logistic_regression",
        "optimizer": {"learningRate": 0.05},
    }
    train_ready_versions(devcluster, admin, ns, {VERSION: job}, timeout=300)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as started:
        yield started


def test_drifted_inputs_degrade_the_estimate_and_alert_once_before_labels_confirm_it(
    devcluster: DevCluster,
    admin: Kube,
    ns: str,
    calibrated_version: None,
    operator: ServingOperator,
    receiver: HttpReceiver,
) -> None:
    hook = {"name": "hook", "type": "webhook", "url": receiver.url, "events": ["performance"]}
    monitoring = {
        "method": "wasserstein",
        "threshold": 1000.0,  # drift is not what this test looks at
        "windowSize": WINDOW,
        "intervalSeconds": 5,
        "performanceMargin": MARGIN,
    }
    body = example(
        "direct.yaml",
        deployment=DEPLOYMENT,
        version=VERSION,
        followStage=None,
        monitoring=monitoring,
        alerts=[hook],
    )
    apply(devcluster, ns, body)
    wait_ready(admin, ns, DEPLOYMENT, timeout=240, what="the calibrated version served")
    address = stable_address(admin, ns, DEPLOYMENT)

    # the inputs it was tested on: the estimate is as expected, nothing is sent
    rows = _test_rows()
    confidence = [_predict(address, features)[1] for features, _ in rows]
    status = wait_status(
        admin,
        ns,
        DEPLOYMENT,
        lambda s: _performance_condition(s) == ("False", "PerformanceAsExpected"),
        timeout=60,
        what="PerformanceDegraded=False on the test split's inputs",
    )
    test_accuracy = _performance(status)["testAccuracy"]
    assert test_accuracy >= 0.95, _performance(status)

    # the inputs shift to the tumours the model is least sure of (chosen without labels)
    shifted = sorted(range(len(rows)), key=lambda i: confidence[i])[:WINDOW]
    ids = [_predict(address, rows[i][0])[0] for i in shifted]
    status = wait_status(
        admin,
        ns,
        DEPLOYMENT,
        lambda s: _performance_condition(s) == ("True", "PerformanceDegraded"),
        timeout=60,
        what="PerformanceDegraded=True after the shift",
    )
    firing = wait_until(lambda: _alerts(receiver), timeout=30, what="the performance alert")
    estimated = _performance(status)
    assert estimated["samples"] == WINDOW
    assert estimated["degraded"]
    assert estimated["realizedSamples"] == 0
    assert estimated["accuracy"]["value"] < test_accuracy - MARGIN
    assert len(firing) == 1
    assert firing[0]["status"] == "firing"
    alert = firing[0]["alerts"][0]
    assert alert["labels"]["version"] == VERSION
    assert "figure_realized_accuracy" not in alert["annotations"]

    # the true labels, later: the accuracy really fell, as far as the estimate said
    hits = [
        _post(address, "/v1/feedback", {"predictionId": pid, "trueLabel": rows[i][1]})["correct"]
        for pid, i in zip(ids, shifted, strict=True)
    ]
    status = wait_status(
        admin,
        ns,
        DEPLOYMENT,
        lambda s: _performance(s).get("realizedSamples") == WINDOW,
        timeout=60,
        what="the realized accuracy of the labelled predictions",
    )
    report = _performance(status)
    realized, interval = report["realizedAccuracy"], report["accuracy"]
    assert realized == pytest.approx(sum(hits) / WINDOW)
    assert realized < test_accuracy - MARGIN, report  # the model is really wrong more often
    assert interval["lower"] <= realized <= interval["upper"], report
    assert condition(admin, ns, DEPLOYMENT, "PerformanceDegraded")["status"] == "True"
    assert len(_alerts(receiver)) == 1  # still degraded: no second alert, no resolved notice
