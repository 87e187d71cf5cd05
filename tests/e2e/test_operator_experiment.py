"""Hyperparameter search end to end: Experiments whose trials run as TrainingJobs on the
devcluster, with the operator, MinIO and real trainer pods."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import DATA, StartOperator, tabular_model

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.experiment_trial import trial_selector
from mlops_operator.commands.registry import Target
from mlops_operator.kube import Kube
from mlops_operator.operations.experiments import experiment_report
from mlops_operator.reconcile.experiment_study import study_settings
from mlops_operator.search.record import ANNOTATION_END, TrialPlan
from mlops_operator.search.study import SearchStudy

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(
        (c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == kind), {}
    )


def _finished(admin: Kube, ns: str, name: str) -> dict[str, Any] | None:
    body = admin.get(API_VERSION, "Experiment", name, ns) or {}
    return body if _condition(body, "Succeeded").get("status") in ("True", "False") else None


def _trials(admin: Kube, ns: str, experiment: str) -> list[dict[str, Any]]:
    found = admin.list(API_VERSION, "TrainingJob", ns, label_selector=trial_selector(experiment))
    return sorted(found, key=lambda tj: int(tj["metadata"]["labels"]["mlops.dev/trial"]))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _most_at_once(trials: list[dict[str, Any]]) -> int:
    """The most trials alive at one moment: each from its creation to its completion."""
    spans = [
        (_time(tj["metadata"]["creationTimestamp"]), _time(tj["status"]["completionTime"]))
        for tj in trials
    ]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


def _experiment(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "modelName": "breast-cancer",
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "strategy": "random",
            "seed": 5,
            "maxTrials": 3,
            "parallelTrials": 1,
            "maxFailedTrials": 0,
            "winner": {"register": True, "stage": "draft"},
            "trialTemplate": {
                "dataset": {
                    "train": f"{DATA}/train.csv",
                    "validation": f"{DATA}/validation.csv",
                    "labelColumn": "diagnosis",
                },
                "model": {"architecture": "logistic_regression"},
                "training": {"epochs": 2, "batchSize": 64},
                "resources": {"cpu": "500m", "memory": "1Gi"},
                "retries": 0,
            },
        },
    }
    body["spec"].update(spec)
    return body


def _apply(devcluster: DevCluster, ns: str, *manifests: dict[str, Any]) -> None:
    devcluster.kubectl(
        "apply", "-n", ns, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )


def test_example_search_runs_six_trials_two_at_a_time_and_stages_the_winner(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "tabular" / "model.yaml"))
    devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "experiment" / "experiment.yaml"))
    name = yaml.safe_load((EXAMPLES / "experiment" / "experiment.yaml").read_text())["metadata"][
        "name"
    ]
    body = wait_until(
        lambda: _finished(admin, ns, name), timeout=400, what="the search to end", interval=1
    )
    assert _condition(body, "Succeeded")["status"] == "True", body["status"]
    assert _condition(body, "Succeeded")["reason"] == "MaxTrialsReached"
    trials = _trials(admin, ns, name)
    assert [tj["metadata"]["name"] for tj in trials] == [f"{name}-t{n}" for n in range(6)]
    assert _most_at_once(trials) <= 2
    status = body["status"]
    assert status["trialsDone"] == 6
    best = status["bestTrial"]
    assert best["value"] == max(
        tj["status"]["metrics"]["val_accuracy"]
        for tj in trials
        if tj["status"]["phase"] == "Succeeded"
    )
    version = admin.get(API_VERSION, "ModelVersion", best["modelVersion"], ns)
    assert version is not None
    assert version["spec"]["stage"] == "staging"
    assert version["spec"]["lineage"] == {
        "trainingJob": best["trainingJob"],
        "experiment": name,
        "trial": best["number"],
    }
    # the trials registered nothing of their own
    assert len(admin.list(API_VERSION, "ModelVersion", ns)) == 1
    # what `mlops experiment NAME` prints: the trials, best first
    report = experiment_report(Target(kube=admin, namespace=ns), name)
    assert next(row.name for row in report.trials) == best["trainingJob"]
    assert len(report.trials) == 6


def _first_seed_asking(values: list[str]) -> int:
    """A seed whose random search asks for ``values`` first, in that order (the random
    sampler's choices do not depend on the results)."""
    for seed in range(200):
        experiment = Experiment.model_validate(
            {
                "metadata": {"name": "probe", "namespace": "x"},
                "spec": _experiment("probe", seed=seed, searchSpace=_LR_SPACE)["spec"],
            }
        )
        plans = SearchStudy(study_settings(experiment), []).ask(len(values), finished=[])
        if [plan.params["model.optimizer.learningRate"] for plan in plans] == values:
            return seed
    raise AssertionError("no seed asks for that order")


_LR_SPACE = [
    {"name": "model.optimizer.learningRate", "type": "categorical", "values": ["0.05", "0.00001"]}
]


def test_a_trial_far_behind_the_median_is_pruned_and_its_job_stops(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    seed = _first_seed_asking(["0.05", "0.00001"])
    epochs = 30
    experiment = _experiment(
        "prune",
        seed=seed,
        maxTrials=2,
        searchSpace=_LR_SPACE,
        pruner={"type": "median", "startupTrials": 1, "warmupEpochs": 1},
        trialTemplate={
            **_experiment("x")["spec"]["trialTemplate"],
            # slow enough epochs (one sample per step) for the pruner to act mid-run
            "training": {"epochs": epochs, "batchSize": 1, "earlyStopping": {"enabled": False}},
        },
    )
    _apply(devcluster, ns, tabular_model(), experiment)
    body = wait_until(
        lambda: _finished(admin, ns, "prune"), timeout=300, what="the search to end", interval=1
    )
    assert body["status"]["trialsPruned"] == 1, body["status"]
    pruned = _trials(admin, ns, "prune")[1]
    assert pruned["status"]["phase"] == "Stopped"
    assert _condition(pruned, "Succeeded")["reason"] == "Pruned"
    assert (
        "pruned by the median pruner at epoch" in pruned["metadata"]["annotations"][ANNOTATION_END]
    )
    job = admin.get("batch/v1", "Job", pruned["status"]["jobName"], ns)
    assert job is not None
    assert job["spec"]["suspend"] is True
    wait_until(
        lambda: (
            not (admin.get("batch/v1", "Job", pruned["status"]["jobName"], ns) or {})
            .get("status", {})
            .get("active")
        ),
        timeout=60,
        what="the pruned trial's pod to end",
    )
    assert pruned["status"]["progress"]["epoch"] < epochs


def test_operator_killed_mid_search_finishes_it_like_an_uninterrupted_run(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    space = [
        {
            "name": "model.optimizer.learningRate",
            "type": "float",
            "low": 0.0005,
            "high": 0.2,
            "log": True,
        },
        {"name": "training.batchSize", "type": "categorical", "values": ["16", "64"]},
    ]
    # Which of two parallel trials ends first varies between runs, but TPE's first ten trials
    # are its seeded startup points, so searches of any parallelism ask for the same four (the
    # uninterrupted one runs all four at once); a study rebuilt naively after a restart would
    # ask for trial 0's point again.
    search = {
        "strategy": "bayesian",
        "seed": 11,
        "maxTrials": 4,
        "parallelTrials": 2,
        "searchSpace": space,
    }
    operator = start_operator()
    _apply(
        devcluster, ns, tabular_model(), _experiment("steady", **{**search, "parallelTrials": 4})
    )
    steady = wait_until(
        lambda: _finished(admin, ns, "steady"), timeout=300, what="the steady search", interval=1
    )
    _apply(devcluster, ns, _experiment("killed", **search))
    for trials_seen in (1, 3):  # killed as the search starts, and half-way
        wait_until(
            lambda n=trials_seen: len(_trials(admin, ns, "killed")) >= n,
            timeout=120,
            what=f"trial {trials_seen - 1} of the search to be killed",
            interval=0.05,
        )
        operator.kill()
        operator = start_operator()
    killed = wait_until(
        lambda: _finished(admin, ns, "killed"), timeout=300, what="the killed search", interval=1
    )
    trials = _trials(admin, ns, "killed")
    assert [tj["metadata"]["name"] for tj in trials] == [f"killed-t{n}" for n in range(4)]
    assert killed["status"]["trialsDone"] == 4
    steady_plans = [
        TrialPlan.from_annotation(tj["metadata"]["annotations"]["mlops.dev/trial"]).params
        for tj in _trials(admin, ns, "steady")
    ]
    killed_plans = [
        TrialPlan.from_annotation(tj["metadata"]["annotations"]["mlops.dev/trial"]).params
        for tj in trials
    ]
    assert killed_plans == steady_plans
    assert killed["status"]["bestTrial"]["value"] == steady["status"]["bestTrial"]["value"]
    assert killed["status"]["bestTrial"]["params"] == steady["status"]["bestTrial"]["params"]
