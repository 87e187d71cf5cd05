"""The operator's own metrics: reconciles, errors, and the watched objects by state."""

from __future__ import annotations

import logging
import socket
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlops_operator import __version__
from mlops_operator.metrics import OperatorMetrics
from mlops_operator.resource_states import deployment_state, experiment_state, training_state

pytestmark = pytest.mark.unit


def samples(metrics: OperatorMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def run(name: str, phase: str | None, *, model: str = "churn") -> dict[str, Any]:
    return {
        "kind": "TrainingJob",
        "metadata": {"namespace": "team-a", "name": name},
        "spec": {"modelName": model},
        "status": {"phase": phase} if phase else {},
    }


def test_training_jobs_are_counted_by_phase_and_failures_once() -> None:
    metrics = OperatorMetrics()
    for name, phase in (("a", "Running"), ("b", "Running"), ("c", "Succeeded")):
        metrics.observe(
            "TrainingJob", training_state(run(name, phase)), namespace="team-a", name=name
        )
    assert value(metrics, "mlops_training_jobs", namespace="team-a", phase="Running") == 2
    failures = ("mlops_training_job_failures_total", {"namespace": "team-a", "model": "churn"})
    assert value(metrics, failures[0], **failures[1]) == 0

    metrics.observe("TrainingJob", training_state(run("a", "Failed")), namespace="team-a", name="a")
    metrics.observe("TrainingJob", training_state(run("a", "Failed")), namespace="team-a", name="a")
    assert value(metrics, failures[0], **failures[1]) == 1
    assert value(metrics, "mlops_training_jobs", namespace="team-a", phase="Running") == 1

    # A run already Failed when first seen (operator restart) is not a new failure.
    metrics.observe("TrainingJob", training_state(run("d", "Failed")), namespace="team-a", name="d")
    assert value(metrics, failures[0], **failures[1]) == 1

    metrics.observe("TrainingJob", None, namespace="team-a", name="b")
    assert value(metrics, "mlops_training_jobs", namespace="team-a", phase="Running") is None


def test_experiment_trials_and_deployment_rollout() -> None:
    metrics = OperatorMetrics()
    experiment = {
        "metadata": {"namespace": "team-a", "name": "search"},
        "spec": {"maxTrials": 12},
        "status": {"trialsCreated": 5, "trialsRunning": 2, "trialsSucceeded": 2, "trialsPruned": 1},
    }
    metrics.observe("Experiment", experiment_state(experiment), namespace="team-a", name="search")
    ids = {"namespace": "team-a", "experiment": "search"}
    assert value(metrics, "mlops_experiment_trials", **ids, state="running") == 2
    assert value(metrics, "mlops_experiment_trials", **ids, state="pruned") == 1
    assert value(metrics, "mlops_experiment_max_trials", **ids) == 12

    deployment = {
        "metadata": {"namespace": "team-a", "name": "churn"},
        "status": {
            "phase": "RolledBack",
            "currentStep": 1,
            "traffic": [{"version": "1.0.0", "weight": 100}, {"version": "1.1.0", "weight": 0}],
            "drift": [
                {
                    "version": "1.0.0",
                    "method": "psi",
                    "score": 0.31,
                    "feature": "tenure",
                    "drifted": True,
                    "time": "2026-01-01T00:00:00Z",
                }
            ],
            "performance": [
                {
                    "version": "1.0.0",
                    "calibrated": True,
                    "accuracy": {"value": 0.81, "lower": 0.78, "upper": 0.84},
                    "testAccuracy": 0.93,
                    "margin": 0.05,
                    "degraded": True,
                    "time": "2026-01-01T00:00:00Z",
                },
                {
                    "version": "1.1.0",
                    "calibrated": False,
                    "margin": 0.05,
                    "degraded": False,
                    "time": "2026-01-01T00:00:00Z",
                },
            ],
        },
    }
    metrics.observe("Deployment", deployment_state(deployment), namespace="team-a", name="churn")
    d = {"namespace": "team-a", "deployment": "churn"}
    assert value(metrics, "mlops_deployment_rollout_phase", **d, phase="RolledBack") == 1
    assert value(metrics, "mlops_deployment_rollout_phase", **d, phase="Progressing") == 0
    assert value(metrics, "mlops_deployment_traffic_weight", **d, version="1.0.0") == 100
    assert value(metrics, "mlops_deployment_canary_step", **d) == 1
    drift = value(
        metrics,
        "mlops_deployment_drift_score",
        **d,
        version="1.0.0",
        feature="tenure",
        method="psi",
    )
    assert drift == pytest.approx(0.31)
    estimate = {**d, "version": "1.0.0"}
    assert value(metrics, "mlops_deployment_estimated_accuracy", **estimate, bound="estimate") == (
        pytest.approx(0.81)
    )
    assert value(metrics, "mlops_deployment_estimated_accuracy", **estimate, bound="lower") == (
        pytest.approx(0.78)
    )
    assert value(metrics, "mlops_deployment_estimated_accuracy", **estimate, bound="test") == (
        pytest.approx(0.93)
    )


def test_a_status_the_types_reject_counts_as_unknown() -> None:
    metrics = OperatorMetrics()
    body = run("x", None)
    body["status"] = {"phase": "Exploded"}
    metrics.observe("TrainingJob", training_state(body), namespace="team-a", name="x")
    assert value(metrics, "mlops_training_jobs", namespace="team-a", phase="Unknown") == 1


def test_reconciles_and_kopf_handler_errors_are_counted_and_served() -> None:
    metrics = OperatorMetrics()
    metrics.count_reconcile("ModelVersion", "success")
    metrics.count_reconcile("ModelVersion", "retry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(port)
    kopf_logger = logging.getLogger("kopf.objects")
    try:
        kopf_logger.error(
            "Handler 'reconcile' failed temporarily: boom",
            extra={"k8s_ref": {"kind": "ModelVersion", "name": "m", "namespace": "team-a"}},
        )
        kopf_logger.warning("not an error", extra={"k8s_ref": {"kind": "ModelVersion"}})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        kopf_logger.removeHandler(metrics._error_counter)
    assert 'mlops_operator_reconciles_total{kind="ModelVersion",result="retry"} 1.0' in text
    assert 'mlops_operator_reconcile_errors_total{kind="ModelVersion"} 1.0' in text
    assert 'mlops_operator_reconcile_errors_total{kind="Experiment"} 0.0' in text
    assert f'mlops_operator_build_info{{version="{__version__}"}} 1.0' in text


def test_ab_verdicts_and_sequential_canary_estimates_are_exported() -> None:
    from tests.unit.test_rollout_decide import T0, canary, observed, then, totals

    from mlops_operator.abtest.verdict import ArmCounts, evaluate
    from mlops_operator.api.rollout import AbTestStrategy
    from mlops_operator.rollout.decide import decide

    metrics = OperatorMetrics()
    strategy = AbTestStrategy.model_validate(
        {
            "variants": [{"version": "1.0.0", "weight": 50}, {"version": "1.1.0", "weight": 50}],
            "metric": "accuracy",
            "minSamples": 100,
        }
    )
    verdict = evaluate(strategy, [ArmCounts("1.0.0", 1000, 800), ArmCounts("1.1.0", 1000, 900)])
    sequential = canary(method="sequential", minRequests=50)
    start = decide(observed(strategy=sequential, totals=totals(v1_0_0=(5000, 50, 0))))
    look = decide(
        then(
            start,
            strategy=sequential,
            now=T0 + timedelta(seconds=5),
            totals=totals(v1_0_0=(5500, 55, 5), v1_1_0=(60, 1, 1)),
        )
    )
    assert look.analysis is not None
    deployment = {
        "metadata": {"namespace": "team-a", "name": "churn"},
        "status": {
            "canaryVersion": "1.1.0",
            "abTest": verdict.model_dump(mode="json", by_alias=True, exclude_none=True),
            "analysis": [look.analysis.model_dump(mode="json", by_alias=True, exclude_none=True)],
        },
    }
    metrics.observe("Deployment", deployment_state(deployment), namespace="team-a", name="churn")
    d = {"namespace": "team-a", "deployment": "churn"}
    assert value(metrics, "mlops_deployment_ab_samples", **d, version="1.1.0") == 1000
    arm = verdict.arms[1]
    for bound, wanted in (("estimate", 0.9), ("lower", arm.ci_lower), ("upper", arm.ci_upper)):
        got = value(
            metrics,
            "mlops_deployment_ab_value",
            **d,
            version="1.1.0",
            metric="accuracy",
            bound=bound,
        )
        assert got == pytest.approx(wanted)
    assert value(metrics, "mlops_deployment_ab_decision", **d, decision="Winner") == 1
    assert value(metrics, "mlops_deployment_ab_decision", **d, decision="Running") == 0
    assert value(metrics, "mlops_deployment_ab_overall_p_value", **d) == pytest.approx(
        verdict.p_value
    )
    assert value(metrics, "mlops_deployment_ab_p_value", **d, version="1.1.0") is not None
    found = look.analysis.sequential
    assert found is not None
    assert found.error_rate is not None
    for bound, wanted in (
        ("estimate", found.error_rate.increase),
        ("lower", found.error_rate.lower),
    ):
        got = value(
            metrics, "mlops_deployment_canary_increase", **d, comparison="error_rate", bound=bound
        )
        assert got == pytest.approx(wanted)
    assert (
        value(
            metrics,
            "mlops_deployment_canary_increase",
            **d,
            comparison="slow_share",
            bound="tolerance",
        )
        == 0.02
    )
