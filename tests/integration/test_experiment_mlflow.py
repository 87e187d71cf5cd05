"""An Experiment in MLflow, against a real ``mlflow server``: the operator's parent run for the
search (found again, never started twice) and a trial's trainer run nested under it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from test_trainer_mlflow import EXAMPLES, _api, mlflow_uri

from mlops_operator.mlflow_runs import PARENT_RUN_ENV, MlflowRuns

pytestmark = pytest.mark.integration

__all__ = ["mlflow_uri"]


def test_a_trial_run_nests_under_the_search_run(tmp_path: Path, mlflow_uri: str) -> None:
    runs = MlflowRuns(mlflow_uri, timeout=120)  # a fresh server's first answers are slow
    settings = {"strategy": "bayesian", "space.model.dropout": "0.0..0.5"}
    parent = runs.parent_run(
        mlflow_experiment="search-test", uid="uid-1", name="s", params=settings
    )
    assert (
        runs.parent_run(mlflow_experiment="search-test", uid="uid-1", name="s", params={}) == parent
    )

    config = {
        "dataset": {
            "train": str(EXAMPLES / "train.csv"),
            "validation": str(EXAMPLES / "validation.csv"),
            "labelColumn": "diagnosis",
        },
        "model": {"architecture": "logistic_regression"},
        "training": {"epochs": 2},
        "output": {
            "modelName": "breast-cancer",
            "version": "0.0.3",
            "artifactUri": str(tmp_path / "a"),
        },
        "mlflowExperiment": "search-test",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "WORLD_SIZE"))}
    env.update(
        MLFLOW_TRACKING_URI=mlflow_uri,
        OMP_NUM_THREADS="1",
        MLOPS_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination"),
        MLOPS_TRAINER_CONFIG=json.dumps(config),
        **{PARENT_RUN_ENV: parent},
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    runs.finish(
        parent,
        succeeded=True,
        metrics={"best_val_accuracy": 0.97},
        tags={"mlops.best_trial": "s-t0"},
    )

    query = urllib.parse.urlencode({"experiment_name": "search-test"})
    experiment = _api(mlflow_uri, "GET", f"experiments/get-by-name?{query}")["experiment"]
    found = _api(
        mlflow_uri, "POST", "runs/search", {"experiment_ids": [experiment["experiment_id"]]}
    )["runs"]
    assert len(found) == 2
    by_id = {run["info"]["run_id"]: run for run in found}
    child = next(run for run_id, run in by_id.items() if run_id != parent)
    child_tags = {tag["key"]: tag["value"] for tag in child["data"]["tags"]}
    assert child_tags["mlflow.parentRunId"] == parent
    assert child["info"]["status"] == "FINISHED"
    search_run = by_id[parent]
    assert search_run["info"]["status"] == "FINISHED"
    assert {m["key"]: m["value"] for m in search_run["data"]["metrics"]} == {
        "best_val_accuracy": 0.97
    }
    assert {p["key"] for p in search_run["data"]["params"]} == set(settings)
