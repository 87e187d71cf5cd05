"""Explanations: exact for logistic regression, additive for every model, bounded per request."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from example_artifacts import example_records, publish_example

from mlops_core.artifact_io import rebuild_module
from mlops_core.artifact_parts import read_artifact_parts
from mlops_core.prediction_ids import PREDICTION_ID_HEADER
from mlops_core.preprocessing import tokenize
from mlops_serving.cpu_pacing import BURST_SECONDS
from mlops_serving.errors import InvalidInputError, ModelUnavailableError
from mlops_serving.explain_workers import Explained, ExplainWorkers
from mlops_serving.explaining import ADDITIVITY_TOLERANCE, ModelExplainer
from mlops_serving.prediction_activity import BUSY_WINDOW_S, PredictionActivity
from mlops_serving.runtimes import ServableArtifact, load_servable
from mlops_serving.server_app import build_server
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit


def _explainer(artifact: ServableArtifact) -> ModelExplainer:
    return ModelExplainer(
        preprocessor=artifact.preprocessor,
        reference=artifact.reference,
        architecture=artifact.config.architecture,
        class_labels=artifact.class_labels,
        probabilities=artifact.network.probabilities,
    )


def test_logistic_regression_gets_the_exact_linear_shapley_values(tmp_path: Path) -> None:
    store = publish_example(tmp_path, "logistic_regression")
    artifact = load_servable(store, requested="onnx")
    explainer = _explainer(artifact)
    weights = rebuild_module(read_artifact_parts(store)).linear.weight.detach().numpy()
    background = explainer._explainer.background  # what the explainer calls E[x]
    records = example_records("breast-cancer", "test")
    rows = artifact.encode(records)
    explained = explainer.explain(records)
    assert len(explained) == len(records)
    for row, explanation in zip(rows, explained, strict=True):
        assert explanation.output == "log-odds"
        k = artifact.class_labels.index(explanation.label)
        w = weights[k] - weights[1 - k]  # log(p_k / p_other) = (w_k - w_other)·x + b
        exact = w * (row - background.mean(axis=0))
        got = np.array([a.value for a in explanation.attributions])
        assert [a.feature for a in explanation.attributions] == artifact.input_columns
        assert np.abs(got - exact).max() <= 1e-3
        assert explanation.additivity_error <= ADDITIVITY_TOLERANCE


def test_mlp_attributions_add_up_on_every_test_instance(tmp_path: Path) -> None:
    artifact = load_servable(publish_example(tmp_path, "mlp"), requested="onnx")
    records = example_records("breast-cancer", "test")
    explained = _explainer(artifact).explain(records)
    probabilities = artifact.predict_proba(records)
    for explanation, proba in zip(explained, probabilities, strict=True):
        assert explanation.output == "probability"
        assert explanation.additivity_error <= ADDITIVITY_TOLERANCE
        k = artifact.class_labels.index(explanation.label)
        assert k == int(proba.argmax())
        assert explanation.prediction == pytest.approx(float(proba[k]), abs=1e-6)
    assert any(abs(a.value) > 1e-3 for e in explained for a in e.attributions)


@pytest.mark.parametrize("architecture", ["lstm", "cnn_text"])
def test_text_attributions_are_per_token_and_add_up(tmp_path: Path, architecture: str) -> None:
    artifact = load_servable(publish_example(tmp_path, architecture), requested="onnx")
    records = [*example_records("threat-classifier", "test")[:10], {"description": ""}]
    for record, explanation in zip(records, _explainer(artifact).explain(records), strict=True):
        tokens = [a.feature for a in explanation.attributions]
        max_length = artifact.preprocessor.max_length  # type: ignore[union-attr]
        assert tokens == tokenize(record["description"])[:max_length]
        assert explanation.additivity_error <= ADDITIVITY_TOLERANCE
    assert explanation.attributions == []  # the empty text: nothing moved it from the base


async def _post_all(repository: Path, calls: list[tuple[str, Any]]) -> list[httpx.Response]:
    settings = ServerSettings(
        model_repository_uri=str(repository), preload_models="m:1.0.0", explain_max_instances=4
    )
    server = build_server(settings)
    app = server.app  # type: ignore[attr-defined]
    async with app.router.lifespan_context(app):
        await app.state.inference.repository.get("m", "1.0.0")
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            answers = [await client.post(path, json=body) for path, body in calls]
            answers.append(await client.get("/metrics"))
    return answers


def test_the_explain_routes_answer_and_bound_the_instances(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=10)
    records = example_records("breast-cancer", "test")
    columns = list(records[0])
    v2_body = {
        "inputs": [
            {"name": c, "shape": [2], "datatype": "FP64", "data": [r[c] for r in records[:2]]}
            for c in columns
        ]
    }
    v1, v2, too_many, metrics = asyncio.run(
        _post_all(
            tmp_path,
            [
                ("/v1/models/m:explain", {"instances": records[:3]}),
                ("/v2/models/m/explain", v2_body),
                ("/v1/models/m:explain", {"instances": records[:5]}),
            ],
        )
    )
    assert v1.status_code == 200, v1.text
    body = v1.json()
    assert (body["model"], body["version"], body["runtime"]) == ("m", "1.0.0", "onnx")
    assert len(body["explanations"]) == 3
    first = body["explanations"][0]
    assert [a["feature"] for a in first["attributions"]] == columns
    total = sum(a["value"] for a in first["attributions"])
    assert abs(total - (first["prediction"] - first["baseValue"])) <= ADDITIVITY_TOLERANCE
    assert first["additivityError"] <= ADDITIVITY_TOLERANCE
    assert v2.status_code == 200, v2.text
    assert v2.json()["model_name"] == "m"
    assert len(v2.json()["explanations"]) == 2
    assert too_many.status_code == 413
    assert "limit of 4" in json.dumps(too_many.json())
    assert 'ml_explanation_latency_seconds_count{model="m",version="1.0.0"} 2.0' in metrics.text


def _workers() -> list[psutil.Process]:
    """This process's explanation workers (not multiprocessing's resource tracker)."""
    workers = []
    for child in psutil.Process().children():
        try:  # a child that has exited (a zombie not reaped yet, or gone) is no worker
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return workers


def test_a_prediction_is_explained_by_the_version_that_made_it_in_a_worker_process(
    tmp_path: Path,
) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=10)
    publish_example(tmp_path / "m" / "2.0.0", "logistic_regression", steps=10)  # the default
    record = example_records("breast-cancer", "test")[0]

    async def calls() -> tuple[str, httpx.Response, httpx.Response, list[int]]:
        settings = ServerSettings(model_repository_uri=str(tmp_path), explain_niceness=7)
        server = build_server(settings)
        app = server.app  # type: ignore[attr-defined]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=server)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                predicted = await client.post(
                    "/v1/models/m/versions/1.0.0:predict", json={"instances": [record]}
                )
                made = predicted.json()["predictionIds"][0]
                by_id = await client.post(
                    "/v1/models/m:explain",
                    json={"instances": [record]},
                    headers={PREDICTION_ID_HEADER: made},
                )
                default = await client.post("/v1/models/m:explain", json={"instances": [record]})
                # explanations ran in the server's own worker processes, at a lower priority
                workers = [
                    (worker.nice(), os.sched_getscheduler(worker.pid)) for worker in _workers()
                ]
        return made, by_id, default, workers

    made, by_id, default, workers = asyncio.run(calls())
    assert made.endswith("@1.0.0")
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["version"] == "1.0.0"
    assert by_id.json()["explanations"][0]["output"] == "probability"  # the MLP's
    assert default.json()["version"] == "2.0.0"
    assert default.json()["explanations"][0]["output"] == "log-odds"
    assert workers
    assert all(
        (nice, policy) == (os.nice(0) + 7, os.SCHED_IDLE) for nice, policy in workers
    )  # the niceness asked for, under the idle policy
    assert not _workers()  # stopped with the server


def test_a_worker_verifies_the_version_before_explaining_it(tmp_path: Path) -> None:
    store = publish_example(tmp_path / "m" / "1.0.0", "logistic_regression", steps=10)
    digest = read_artifact_parts(store).digest
    record = example_records("breast-cancer", "test")[0]
    workers = ExplainWorkers(processes=1, niceness=0, cpu_share=1.0)

    async def explain(digest: str, records: list[dict[str, Any]]) -> Explained:
        return await workers.explain(
            model="m", uri=store.uri, digest=digest, runtime="onnx", records=records
        )

    try:
        assert not workers.started  # nothing is spawned before the first explanation
        explained = asyncio.run(explain(digest, [record]))
        assert explained.count == 1
        (first,) = json.loads(explained.json)
        assert first["additivityError"] <= ADDITIVITY_TOLERANCE
        with pytest.raises(ModelUnavailableError, match="digest"):
            asyncio.run(explain("sha256:" + "0" * 64, [record]))
        with pytest.raises(InvalidInputError, match="does not fit model m"):
            asyncio.run(explain(digest, [{"nonsense": 1}]))
        (worker,) = _workers()
        worker.kill()
        worker.wait(timeout=10)
        with pytest.raises(ModelUnavailableError, match="stopped while explaining m"):
            asyncio.run(explain(digest, [record]))
        again = asyncio.run(explain(digest, [record]))  # a new worker takes its place
        assert json.loads(again.json) == [first]
        assert [w.pid for w in _workers()] != [worker.pid]
    finally:
        workers.close()
    assert not _workers()


def test_a_worker_keeps_to_its_share_of_a_cpu(tmp_path: Path) -> None:
    """Explanations asked back to back: the worker's CPU time stays within its share of the
    wall clock (plus the one burst), where an unpaced one takes all the CPU it is given."""
    share = 0.2
    store = publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=10)
    digest = read_artifact_parts(store).digest
    records = example_records("breast-cancer", "test")[:4]
    workers = ExplainWorkers(processes=1, niceness=0, cpu_share=share)

    async def explain(times: int) -> None:
        for _ in range(times):
            await workers.explain(
                model="m", uri=store.uri, digest=digest, runtime="onnx", records=records
            )

    try:
        asyncio.run(explain(1))  # the worker's start (shap's import and compilation): unpaced
        (worker,) = _workers()
        cpu, wall = sum(worker.cpu_times()[:2]), time.monotonic()
        asyncio.run(explain(6))
        cpu, wall = sum(worker.cpu_times()[:2]) - cpu, time.monotonic() - wall
    finally:
        workers.close()
    assert cpu > 0.1  # enough work for the share to show
    assert cpu <= BURST_SECONDS + share * wall * 1.1 + 0.02, (cpu, wall)  # 0.02: clock ticks


def test_the_server_marks_each_prediction_for_its_workers(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=10)
    records = example_records("breast-cancer", "test")[:1]

    async def run() -> tuple[bool, bool]:
        settings = ServerSettings(model_repository_uri=str(tmp_path), preload_models="m:1.0.0")
        server = build_server(settings)
        app = server.app  # type: ignore[attr-defined]
        async with app.router.lifespan_context(app):
            activity = app.state.inference.activity
            await app.state.inference.repository.get("m", "1.0.0")
            await asyncio.sleep(BUSY_WINDOW_S * 1.2)
            before = activity.busy()
            transport = httpx.ASGITransport(app=server)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                answer = await client.post("/v1/models/m:predict", json={"instances": records})
                assert answer.status_code == 200, answer.text
            return before, activity.busy()

    assert asyncio.run(run()) == (False, True)


def test_a_worker_keeps_to_the_busy_share_only_while_the_server_predicts(tmp_path: Path) -> None:
    """The server's predictions, marked as they begin, hold a worker to the busy share; with
    none, the same explanations run at the idle share (a whole CPU: unpaced)."""
    share = 0.2
    store = publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=10)
    digest = read_artifact_parts(store).digest
    records = example_records("breast-cancer", "test")[:4]
    activity = PredictionActivity()
    workers = ExplainWorkers(  # a normal priority: the idle share shows on a busy machine too
        processes=1,
        niceness=0,
        cpu_share=share,
        idle_cpu_share=1.0,
        activity=activity,
        idle_priority=False,
    )

    async def explain(times: int, *, predicting: bool) -> None:
        async def predict() -> None:  # a prediction beginning every 20 ms
            while True:
                activity.mark()
                await asyncio.sleep(0.02)

        marking = asyncio.create_task(predict()) if predicting else None
        for _ in range(times):
            await workers.explain(
                model="m", uri=store.uri, digest=digest, runtime="onnx", records=records
            )
        if marking is not None:
            marking.cancel()

    def cpu_of_wall(times: int, *, predicting: bool) -> tuple[float, float]:
        (worker,) = _workers()
        cpu, wall = sum(worker.cpu_times()[:2]), time.monotonic()
        asyncio.run(explain(times, predicting=predicting))
        return sum(worker.cpu_times()[:2]) - cpu, time.monotonic() - wall

    try:
        asyncio.run(explain(1, predicting=False))  # the worker's start: unpaced
        cpu, wall = cpu_of_wall(6, predicting=True)
        assert cpu > 0.1  # enough work for the share to show
        assert cpu <= BURST_SECONDS + share * wall * 1.1 + 0.02, (cpu, wall)
        time.sleep(BUSY_WINDOW_S * 1.2)
        cpu, wall = cpu_of_wall(6, predicting=False)
        assert cpu > 2 * share * wall, (cpu, wall)  # beyond the busy share: the idle one
    finally:
        workers.close()
