"""Soak: a model server holding more versions than MAX_MODELS_IN_MEMORY, under steady load that
keeps evicting and reloading them: no errors, and resident memory flat after warm-up."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx
import psutil
import pytest
from reliability_support import Figures, Scale
from serving_support import metric_total, records, run_server, steady_load

pytestmark = pytest.mark.reliability

IN_MEMORY = 2
VERSIONS = 4
MAX_GROWTH = 0.10


def test_server_rotating_more_versions_than_it_holds_stays_flat(
    tmp_path: Path, fraud_repository: Path, scale: Scale, figures: Figures
) -> None:
    versions = [f"1.{minor}.0" for minor in range(VERSIONS)]
    batch = records(4, seed=5)

    def predict(client: httpx.Client, n: int) -> httpx.Response:
        version = versions[n % len(versions)]
        return client.post(
            f"/v1/models/fraud/versions/{version}:predict", json={"instances": batch}
        )

    samples: list[tuple[float, int]] = []
    with run_server(
        fraud_repository,
        host="127.0.0.41",
        log_dir=tmp_path,
        MAX_MODELS_IN_MEMORY=str(IN_MEMORY),
        DRIFT_WINDOW_SIZE="200",
        # the feedback book holds the last N predictions by design: a small N fills it during
        # warm-up, so what grows after is growth, not the book filling
        FEEDBACK_CAPACITY="2000",
    ) as server:
        process = psutil.Process(server.process.pid)
        start = time.monotonic()
        with steady_load(server.url, clients=4, request=predict) as load:
            while (elapsed := time.monotonic() - start) < scale.soak_seconds:
                samples.append((elapsed, process.memory_info().rss))
                time.sleep(0.5)
        result = load.result
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text

    warm_up = scale.soak_seconds * 0.25
    after = [rss for t, rss in samples if t >= warm_up]
    window = max(3, len(after) // 10)
    baseline = statistics.median(after[:window])
    final = statistics.median(after[-window:])
    growth = (final - baseline) / baseline
    evictions = int(metric_total(metrics, "ml_model_evictions_total"))

    section = "Soak"
    figures.record(section, "duration (s)", scale.soak_seconds)
    figures.record(section, "versions served / kept in memory", f"{VERSIONS} / {IN_MEMORY}")
    figures.record(section, "requests", result.sent)
    figures.record(section, "errors", result.errors, target="0", met=result.errors == 0)
    figures.record(section, "versions evicted and reloaded", evictions)
    figures.record(section, "RSS after warm-up (MiB)", round(baseline / 2**20, 1))
    figures.record(section, "RSS at the end (MiB)", round(final / 2**20, 1))
    figures.record(
        section,
        "RSS growth after warm-up (%)",
        round(growth * 100, 1),
        target=f"≤ {MAX_GROWTH * 100:.0f}",
        met=growth <= MAX_GROWTH,
    )
    assert result.sent > 50
    assert result.errors == 0, result.statuses
    assert evictions > VERSIONS, "the load never made the server evict and reload a version"
    assert growth <= MAX_GROWTH, f"RSS grew {growth:.1%}: {baseline} → {final}"
