"""MLflow, for an Experiment: one parent run per search, which its trials' runs nest under.

A small adapter at the edge, over MLflow's REST API (the operator image carries no mlflow
package). The trainer logs each trial as its own run and tags it ``mlflow.parentRunId`` with
the parent's id, which the operator hands it (``mlops_core.trainer_environment``), so the
MLflow UI shows the search as one run with its trials beneath, ready to compare. The parent is
found again by its ``mlops.experiment.uid`` tag, so a restarted operator never starts a second
one.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_S = 10
UID_TAG = "mlops.experiment.uid"


class MlflowUnavailableError(Exception):
    """The tracking server could not be reached or refused a request."""


class MlflowRuns:
    def __init__(self, uri: str, *, timeout: float = TIMEOUT_S) -> None:
        if not uri.startswith(("http://", "https://")):
            raise MlflowUnavailableError(f"MLflow tracking URI {uri!r} is not http(s)")
        self.uri = uri.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            f"{self.uri}/api/2.0/mlflow/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise MlflowUnavailableError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except OSError as exc:
            raise MlflowUnavailableError(f"{method} {path}: {exc}") from None
        result: dict[str, Any] = json.loads(payload) if payload else {}
        return result

    def experiment_id(self, name: str) -> str:
        try:
            query = urllib.parse.urlencode({"experiment_name": name})
            return str(
                self._call("GET", f"experiments/get-by-name?{query}")["experiment"]["experiment_id"]
            )
        except MlflowUnavailableError as exc:
            if "RESOURCE_DOES_NOT_EXIST" not in str(exc):
                raise
        return str(self._call("POST", "experiments/create", {"name": name})["experiment_id"])

    def parent_run(
        self, *, mlflow_experiment: str, uid: str, name: str, params: dict[str, str]
    ) -> str:
        """The search's parent run: found by its uid tag, else created."""
        experiment_id = self.experiment_id(mlflow_experiment)
        found = self._call(
            "POST",
            "runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": f"tags.`{UID_TAG}` = '{uid}'",
                "max_results": 1,
            },
        )
        runs = found.get("runs") or []
        if runs:
            return str(runs[0]["info"]["run_id"])
        run = self._call(
            "POST",
            "runs/create",
            {
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": int(time.time() * 1000),
                "tags": [
                    {"key": UID_TAG, "value": uid},
                    {"key": "mlops.experiment", "value": name},
                ],
            },
        )
        run_id = str(run["run"]["info"]["run_id"])
        self._call(
            "POST",
            "runs/log-batch",
            {"run_id": run_id, "params": [{"key": k, "value": v[:500]} for k, v in params.items()]},
        )
        return run_id

    def finish(
        self, run_id: str, *, succeeded: bool, metrics: dict[str, float], tags: dict[str, str]
    ) -> None:
        now = int(time.time() * 1000)
        self._call(
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [
                    {"key": k, "value": v, "timestamp": now, "step": 0} for k, v in metrics.items()
                ],
                "tags": [{"key": k, "value": v[:5000]} for k, v in tags.items()],
            },
        )
        self._call(
            "POST",
            "runs/update",
            {"run_id": run_id, "status": "FINISHED" if succeeded else "FAILED", "end_time": now},
        )
