"""The server's performance estimate: calibrated probabilities of the last window, the realized
accuracy from feedback beside it, the Prometheus gauges, and older artifacts left uncalibrated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.example_artifacts import LABEL, example_columns, example_records, publish_example

from mlops_core.performance_report import ModelPerformanceReport
from mlops_serving.server_app import build_server
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit
WINDOW = 50


async def _serve(repository: Path, *, label_first: int) -> tuple[dict[str, Any], str]:
    """Predict the test split one request at a time, post true labels for the first
    ``label_first`` predictions, then read the performance report and the metrics."""
    settings = ServerSettings(
        model_repository_uri=str(repository),
        preload_models="m:1.0.0",
        drift={"window_size": WINDOW},
        drift_min_samples=10,
    )
    server = build_server(settings)
    app = server.app  # type: ignore[attr-defined]
    records = example_records("breast-cancer", "test")
    truth = example_columns("breast-cancer", "test")[LABEL["breast-cancer"]]
    async with app.router.lifespan_context(app):
        await app.state.inference.repository.get("m", "1.0.0")
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            ids = []
            for record in records:
                answer = await client.post("/v1/models/m:predict", json={"instances": [record]})
                assert answer.status_code == 200, answer.text
                ids.append(answer.json()["predictionIds"][0])
            for pid, label in list(zip(ids, truth, strict=True))[:label_first]:
                posted = await client.post(
                    "/v1/feedback", json={"predictionId": pid, "trueLabel": label}
                )
                assert posted.status_code == 200, posted.text
            report = await client.get("/mlops/models/m/performance")
            assert report.status_code == 200, report.text
            metrics = await client.get("/metrics")
    return report.json(), metrics.text


def test_the_window_is_estimated_and_realized_accuracy_is_shown_beside_it(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=20, calibrate=True)
    body, metrics = asyncio.run(_serve(tmp_path, label_first=40))
    report = ModelPerformanceReport.model_validate(body)
    assert report.calibrated
    assert report.samples == WINDOW
    assert report.accuracy is not None
    assert report.accuracy.lower <= report.accuracy.value <= report.accuracy.upper
    assert report.accuracy.value > 0.6
    assert report.macro_f1 is None  # two classes
    assert report.realized_samples == 40
    assert report.realized_accuracy is not None
    assert f'ml_estimated_accuracy{{model="m",version="1.0.0"}} {report.accuracy.value}' in metrics
    assert 'ml_estimated_accuracy_lower{model="m",version="1.0.0"}' in metrics


def test_a_version_without_calibration_is_served_but_not_estimated(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=20)
    body, metrics = asyncio.run(_serve(tmp_path, label_first=0))
    report = ModelPerformanceReport.model_validate(body)
    assert not report.calibrated
    assert report.accuracy is None
    assert report.realized_accuracy is None
    assert "ml_estimated_accuracy{" not in metrics


def test_the_warm_up_batch_is_not_counted_as_a_prediction(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=20, calibrate=True)
    settings = ServerSettings(
        model_repository_uri=str(tmp_path),
        preload_models="m:1.0.0",
        drift={"window_size": 10},
        drift_min_samples=1,
    )
    assert settings.serving.warmup
    server = build_server(settings)
    app = server.app  # type: ignore[attr-defined]

    async def read() -> dict[str, Any]:
        async with app.router.lifespan_context(app):
            await app.state.inference.repository.get("m", "1.0.0")
            transport = httpx.ASGITransport(app=server)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                answer = await client.get("/mlops/models/m/performance")
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body

    report = ModelPerformanceReport.model_validate(asyncio.run(read()))
    assert report.samples == 0  # the dummy row the model warmed up on was asked by no one
    assert report.accuracy is None
