"""Run tracking in MLflow through its REST API (no mlflow package needed in the image).

Active when ``MLFLOW_TRACKING_URI`` is an http(s) URL. Logs the run's parameters at start, the
metrics of every epoch (step = epoch), the test metrics and the artifact URI and digest (as tags)
at the end. ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` (basic) authenticate when set.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from mlops_core.progress import TrainingProgress, TrainingResult
from mlops_core.trainer_environment import ENV_MLFLOW_PARENT_RUN, ENV_MLFLOW_TRACKING_URI
from mlops_core.training_spec import TrainerConfig

PARENT_RUN_TAG = "mlflow.parentRunId"
PARAM_VALUE_MAX = 500
PARAMS_PER_BATCH = 100
TIMEOUT_S = 10


class MlflowError(Exception):
    """The tracking server refused a request."""


def flatten_params(prefix: str, value: Any) -> dict[str, str]:
    """Nested config → ``{"model.optimizer.learningRate": "0.001", ...}`` (lists as JSON)."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten_params(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    text = value if isinstance(value, str) else json.dumps(value)
    return {prefix: text[:PARAM_VALUE_MAX]}


def run_params(config: TrainerConfig) -> dict[str, str]:
    return {
        **flatten_params("dataset", config.dataset.to_wire()),
        **flatten_params("model", config.model.to_wire()),
        **flatten_params("training", config.training.to_wire()),
        "output.modelName": config.output.model_name,
        "output.version": config.output.version,
    }


class MlflowClient:
    """The handful of MLflow REST calls a training run needs."""

    def __init__(self, uri: str, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self.uri = uri.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if environ.get("MLFLOW_TRACKING_TOKEN"):
            self._headers["Authorization"] = f"Bearer {environ['MLFLOW_TRACKING_TOKEN']}"
        elif environ.get("MLFLOW_TRACKING_USERNAME"):
            user = environ["MLFLOW_TRACKING_USERNAME"]
            pair = f"{user}:{environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.uri}/api/2.0/mlflow/{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers)  # noqa: S310 (http(s) only, checked by mlflow_reporter_from_env)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise MlflowError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        result: dict[str, Any] = json.loads(payload) if payload else {}
        return result

    def experiment_id(self, name: str) -> str:
        try:
            found = self.call(
                "GET",
                "experiments/get-by-name?" + urllib.parse.urlencode({"experiment_name": name}),
            )
            return str(found["experiment"]["experiment_id"])
        except MlflowError as exc:
            if "RESOURCE_DOES_NOT_EXIST" not in str(exc):
                raise
        created = self.call("POST", "experiments/create", {"name": name})
        return str(created["experiment_id"])

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str]) -> str:
        run = self.call(
            "POST",
            "runs/create",
            {
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": _now_ms(),
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            },
        )
        return str(run["run"]["info"]["run_id"])

    def log_batch(
        self,
        run_id: str,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        step: int = 0,
        tags: dict[str, str] | None = None,
    ) -> None:
        items = list((params or {}).items())
        for start in range(0, max(len(items), 1), PARAMS_PER_BATCH):
            chunk = items[start : start + PARAMS_PER_BATCH]
            body: dict[str, Any] = {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in chunk],
            }
            if start == 0:
                now = _now_ms()
                body["metrics"] = [
                    {"key": k, "value": v, "timestamp": now, "step": step}
                    for k, v in (metrics or {}).items()
                ]
                body["tags"] = [{"key": k, "value": v} for k, v in (tags or {}).items()]
            self.call("POST", "runs/log-batch", body)

    def finish_run(self, run_id: str, *, succeeded: bool) -> None:
        self.call(
            "POST",
            "runs/update",
            {
                "run_id": run_id,
                "status": "FINISHED" if succeeded else "FAILED",
                "end_time": _now_ms(),
            },
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


class MlflowReporter:
    """Logs one MLflow run per training run (rank 0 only)."""

    def __init__(
        self, client: MlflowClient, *, experiment: str | None = None, parent_run: str | None = None
    ) -> None:
        self.client = client
        self._experiment = experiment
        self._parent_run = parent_run
        self.run_id: str | None = None

    def start(self, config: TrainerConfig, *, rank: int, world_size: int) -> None:
        name = self._experiment or config.mlflow_experiment or config.output.model_name
        experiment_id = self.client.experiment_id(name)
        tags = {"mlops.model": config.output.model_name, "mlops.version": config.output.version}
        if self._parent_run:
            tags[PARENT_RUN_TAG] = self._parent_run
        self.run_id = self.client.create_run(
            experiment_id, f"{config.output.model_name}-{config.output.version}", tags
        )
        params = run_params(config)
        params["training.workers"] = str(world_size)
        self.client.log_batch(self.run_id, params=params)

    def epoch(self, progress: TrainingProgress, *, samples_per_second: float) -> None:
        if self.run_id is None:
            return
        metrics = {**progress.latest_metrics, "samples_per_second": samples_per_second}
        self.client.log_batch(self.run_id, metrics=metrics, step=progress.epoch)

    def finish(self, result: TrainingResult) -> None:
        if self.run_id is None:
            return
        tags = {"mlops.succeeded": str(result.succeeded).lower()}
        if result.artifact_uri:
            tags["mlops.artifact_uri"] = result.artifact_uri
        if result.digest:
            tags["mlops.digest"] = result.digest
        if result.reason:
            tags["mlops.failure_reason"] = result.reason
        final = {k: v for k, v in result.metrics.items() if k.startswith("test_")}
        self.client.log_batch(self.run_id, metrics=final, step=result.epochs_run or 0, tags=tags)
        self.client.finish_run(self.run_id, succeeded=result.succeeded)


def mlflow_reporter_from_env(
    experiment: str | None = None, env: Mapping[str, str] | None = None
) -> MlflowReporter | None:
    environ = os.environ if env is None else env
    uri = environ.get(ENV_MLFLOW_TRACKING_URI, "")
    if not uri.startswith(("http://", "https://")):
        return None
    return MlflowReporter(
        MlflowClient(uri, environ),
        experiment=experiment,
        parent_run=environ.get(ENV_MLFLOW_PARENT_RUN) or None,
    )
