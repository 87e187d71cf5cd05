"""What one cold load costs a pool server, and what a loaded version costs its memory.

Publishes MODELS versions of ``multi_model.py``'s MLP (each from its own seed, with its
``model.onnx``), then loads them one after another into one model server's repository, in this
process, with the pool server's settings (ONNX Runtime, one thread, warm-up, drift on with its
default window of 1,000, no byte budget, ``MAX_MODELS_IN_MEMORY`` = MODELS). Reported:

- the median and p90 time of a cold load with 1 and with about MODELS versions already in
  memory (``--profile`` prints the profile of the last loads, run on this thread);
- the RSS a loaded version costs (RSS growth from the first version to the last, per version)
  just loaded (**cold**), and **in use**: after 125 predictions of 8 records each (its drift
  window full) and a drift report (its reference statistics read);
- beside them what a server's budget counts for a version: its files' bytes plus the pool's
  default ``modelOverhead`` (256 KiB).

Targets: a version in use costs no more than the budget counts for it; a cold load with
MODELS versions in memory takes no more than 1.5x one with a single version there.
Run: ``.venv/bin/python benchmarks/pool_server_loads.py --models 100`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from multi_model import OVERHEAD_BYTES, VERSION, files_bytes, model_names, publish_versions

LOADAVG = Path("/proc/loadavg")
SAMPLE = 20  # cold loads timed at each end
PREDICTIONS, RECORDS = 125, 8  # per version: fills the default drift window of 1,000


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _records(count: int) -> list[dict[str, Any]]:
    import numpy as np

    from serving_throughput import synthetic_task

    _, data, _, _ = synthetic_task(np.random.default_rng(1), rows=count, hidden=[8])
    columns = [c for c in data if c != "label"]
    return [{c: data[c][i] for c in columns} for i in range(count)]


async def measure(root: Path, names: list[str], profile: bool) -> dict[str, float]:
    from mlops_core.storage import join_uri, open_store
    from mlops_serving.metrics import ServerMetrics
    from mlops_serving.model_repository import ModelRepository
    from mlops_serving.served_model import load_served_model
    from mlops_serving.settings import ServerSettings

    settings = ServerSettings(model_repository_uri=str(root))
    executor = ThreadPoolExecutor(max_workers=1)
    repository = ModelRepository(settings, executor=executor, metrics=ServerMetrics())
    times: list[float] = []
    await repository.get(names[0], VERSION)  # the runtime's libraries are imported here
    gc.collect()
    first_rss = rss()
    for name in names[1:]:
        started = time.perf_counter()
        await repository.get(name, VERSION)
        times.append(1000 * (time.perf_counter() - started))
    gc.collect()
    cold = (rss() - first_rss) / (len(names) - 1)
    records = _records(PREDICTIONS * RECORDS)
    for name in names[1:]:
        served = await repository.get(name, VERSION)
        for i in range(PREDICTIONS):
            await served.predict(records[i * RECORDS : (i + 1) * RECORDS])
        await served.drift_report()
    gc.collect()
    in_use = (rss() - first_rss) / (len(names) - 1)
    if profile:  # the load itself, on this thread (the server runs it on a worker thread)
        profiler = cProfile.Profile()
        profiler.enable()
        for name in names[-SAMPLE:]:
            load_served_model(
                open_store(join_uri(str(root), name, VERSION)),
                name=name,
                version=VERSION,
                settings=settings,
                executor=executor,
                metrics=ServerMetrics(),
            )
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(40)
    await repository.close()
    executor.shutdown()
    files = statistics.mean(files_bytes(root, n) for n in names)
    return {
        "versions": len(names),
        "load_ms_first_p50": round(statistics.median(times[:SAMPLE]), 2),
        "load_ms_first_p90": round(sorted(times[:SAMPLE])[int(0.9 * SAMPLE)], 2),
        "load_ms_last_p50": round(statistics.median(times[-SAMPLE:]), 2),
        "load_ms_last_p90": round(sorted(times[-SAMPLE:])[int(0.9 * SAMPLE)], 2),
        "rss_first_mib": round(first_rss / 2**20, 1),
        "cold_kib_per_version": round(cold / 1024, 1),
        "in_use_kib_per_version": round(in_use / 1024, 1),
        "files_kib_per_version": round(files / 1024, 1),
        "counted_kib_per_version": round((files + OVERHEAD_BYTES) / 1024, 1),
    }


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary; ``met`` when a version in use costs no more than the budget counts
    and a load with many versions in memory is no slower than 1.5x one with a single one."""
    numbers: dict[str, float | bool] = dict(figures)
    numbers["in_use_within_counted"] = (
        figures["in_use_kib_per_version"] <= figures["counted_kib_per_version"]
    )
    numbers["load_last_of_first"] = round(
        figures["load_ms_last_p50"] / figures["load_ms_first_p50"], 2
    )
    targets = {
        "in_use_within_counted": "RSS of a version in use <= its files + modelOverhead",
        "load_last_of_first": "<= 1.5",
    }
    met = bool(numbers["in_use_within_counted"]) and float(numbers["load_last_of_first"]) <= 1.5
    return {"benchmark": "pool_server_loads", "figures": numbers, "targets": targets, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="print the last loads' profile")
    args = parser.parse_args()
    os.environ.setdefault("MAX_MODELS_IN_MEMORY", str(min(args.models, 256)))
    os.environ.setdefault("TORCH_NUM_THREADS", "1")
    print(f"load average before: {LOADAVG.read_text().strip()}", flush=True)
    names = model_names(args.models)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        publish_versions(root, names)
        figures = asyncio.run(measure(root, names, args.profile))
    print(f"load average after: {LOADAVG.read_text().strip()}")
    print(json.dumps(summary(figures)))


if __name__ == "__main__":
    sys.exit(main())
