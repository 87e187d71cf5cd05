"""The demo's serving half: the Deployment it applies is valid for the CRD's types, the next
TrainingJob is the example's with fewer epochs, a judged step reads as measured, and a
prediction shows how sure the model is."""

from __future__ import annotations

import pytest

from mlops_devcluster import demo, demo_serving
from mlops_devcluster.demo_serving import EXAMPLES, TEXTS, prediction_row
from mlops_devcluster.local_operator import repo_root
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.training_job import TrainingJob

pytestmark = pytest.mark.unit


def test_the_demo_deployment_follows_production_and_parses() -> None:
    body = demo_serving.deployment(
        {"type": "canary", "canary": demo_serving.CANARY}, namespace="mlops-demo"
    )
    parsed = Deployment.model_validate(body)
    assert parsed.spec.follow_stage == "production"
    assert parsed.spec.strategy.canary is not None
    assert parsed.spec.strategy.canary.step_weights == [25, 50]
    assert body["metadata"] == {"name": "threat-classifier", "namespace": "mlops-demo"}


def test_the_next_training_job_is_the_example_with_fewer_epochs() -> None:
    example = repo_root() / "examples" / "threat-classifier"
    body = demo._next_training_job(example)
    parsed = TrainingJob.model_validate(body)
    assert body["metadata"]["name"] == demo.NEXT_TRAINING_JOB
    assert parsed.spec.training.epochs == demo.NEXT_EPOCHS
    assert parsed.spec.model_name == "threat-classifier"


def test_a_judged_step_shows_measurements_beside_limits() -> None:
    run = {
        "step": 0,
        "weight": 25,
        "decision": "Passed",
        "canary": {"requests": 44, "errors": 0, "errorRate": 0.0, "p99LatencyMs": 24.3},
        "stable": {"requests": 137, "errors": 0},
        "limits": {"maxErrorRate": 0.05, "maxP99LatencyMs": 2000, "minRequests": 5},
    }
    line = demo_serving.render_step(run, 2)
    assert line.startswith("step 1/2 at 25%: Passed")
    assert "canary 44 requests, errors 0.0%, p99 24 ms" in line
    assert "p99 ≤ 2000 ms, ≥ 5 requests" in line
    assert "stable 137 requests, errors -, p99 -" in line


def test_a_prediction_shows_the_top_class_and_the_runner_up_with_probabilities() -> None:
    probabilities = {"benign": 0.31, "intrusion": 0.41, "phishing": 0.17, "malware": 0.11}
    text = "User opened the quarterly report from the intranet portal and then the wiki page"
    row = prediction_row(text, probabilities, "1.1.0")
    assert row == [text[:59] + "…", "intrusion", "0.41", "benign", "0.31", "1.1.0"]


def test_the_demo_asks_what_the_example_model_is_trained_to_answer() -> None:
    assert list(EXAMPLES) == TEXTS
    assert set(EXAMPLES.values()) <= {"benign", "phishing", "malware", "intrusion"}
