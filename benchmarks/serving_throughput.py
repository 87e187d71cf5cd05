"""Throughput and latency of the model server (dynamic batching) against a per-request baseline.

Both servers load the same trained artifact (a small MLP trained here with the shared core
library) and run in their own processes on loopback with the same uvicorn options and torch
threads. The baseline is a minimal FastAPI handler that calls the model once per request. The
load generator is a small keep-alive HTTP/1.1 client on asyncio in this process. For each
concurrency (1, 16, 64) each server is measured REPEATS times, alternating, and medians are
reported. The server runs with its default batching settings (MAX_BATCH_SIZE 32,
MAX_LATENCY_MS 5). Run: ``.venv/bin/python benchmarks/serving_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_FEATURES = 32
HIDDEN = [128, 128]
CONCURRENCY = (1, 16, 64)
REQUESTS = {1: 400, 16: 2000, 64: 4000}
REPEATS = 3
HOST_SERVER = "127.0.0.2"
HOST_BASELINE = "127.0.0.3"
THREADS = "1"


# ---- a trained model ----------------------------------------------------------------------


def train_artifact(root: Path, *, model: str = "bench", version: str = "1.0.0") -> Path:
    """Train a small MLP on synthetic data with the core library and publish it under root."""
    import torch

    from mlops_core.artifact_config import ArtifactConfig
    from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
    from mlops_core.models import build_model
    from mlops_core.preprocessing import fit_tabular
    from mlops_core.reference_stats import compute_reference_stats
    from mlops_core.storage import open_store
    from mlops_core.training_spec import ModelSpec

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(N_FEATURES)]
    x = rng.normal(size=(2000, N_FEATURES))
    y = (x[:, :4].sum(axis=1) > 0).astype(int)
    data: dict[str, list[object]] = {n: x[:, i].tolist() for i, n in enumerate(names)}
    data["label"] = ["yes" if v else "no" for v in y]
    pre = fit_tabular(data, feature_columns=names)
    config = ArtifactConfig(
        architecture="mlp",
        task="tabular",
        model=ModelSpec(architecture="mlp", hidden_sizes=HIDDEN, dropout=0.0),
        class_labels=["no", "yes"],
        label_column="label",
        feature_names=names,
        num_features=pre.num_features,
    )
    module = build_model(config)
    inputs = torch.from_numpy(pre.transform_columns(data))
    target = torch.tensor([1 if v == "yes" else 0 for v in data["label"]])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(inputs), target)
        loss.backward()
        optimizer.step()
    module.eval()
    store = open_store(str(root / model / version))
    publish_artifact(
        store,
        model=model,
        version=version,
        module=module,
        config=config,
        preprocessor=pre,
        reference=compute_reference_stats(pre, data),
        metrics=ArtifactMetrics(epochs_run=30),
    )
    return root


def request_body() -> bytes:
    rng = np.random.default_rng(1)
    return json.dumps(
        {"instances": [{f"f{i}": float(v) for i, v in enumerate(rng.normal(size=N_FEATURES))}]}
    ).encode()


# ---- the baseline server ------------------------------------------------------------------


def run_baseline(artifact: str, host: str, port: int) -> None:
    """A minimal FastAPI app: parse JSON, call the model for this one request, answer."""
    import torch
    import uvicorn
    from fastapi import FastAPI

    from mlops_core.artifact_io import load_artifact
    from mlops_core.storage import open_store

    torch.set_num_threads(int(THREADS))
    loaded = load_artifact(open_store(artifact))
    app = FastAPI()

    @app.post("/v1/models/bench:predict")
    async def predict(body: dict[str, list[dict[str, float]]]) -> dict[str, object]:
        proba = loaded.predict_proba(body["instances"])
        labels = [loaded.class_labels[int(i)] for i in proba.argmax(axis=1)]
        return {"predictions": labels}

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    uvicorn.run(app, host=host, port=port, log_level="warning", loop="uvloop", http="httptools")


# ---- processes ------------------------------------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_ready(host: str, port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on {host}:{port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://{host}:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server on {host}:{port} did not become ready")


@contextmanager
def process(
    argv: list[str], env: dict[str, str], host: str, port: int, ready: str
) -> Iterator[None]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        wait_ready(host, port, ready, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def model_server(repository: Path, host: str, port: int, **env: str) -> Iterator[None]:
    settings = {
        "MODEL_REPOSITORY_URI": str(repository),
        "PRELOAD_MODELS": "bench:1.0.0",
        "TORCH_NUM_THREADS": THREADS,
        **env,
    }
    argv = [
        sys.executable,
        "-m",
        "mlops_serving",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with process(argv, settings, host, port, "/v2/health/ready"):
        yield


@contextmanager
def baseline_server(repository: Path, host: str, port: int) -> Iterator[None]:
    argv = [
        sys.executable,
        __file__,
        "--baseline",
        str(repository / "bench" / "1.0.0"),
        "--host",
        host,
        "--port",
        str(port),
    ]
    with process(argv, {}, host, port, "/ready"):
        yield


# ---- load generator -------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    headers: list[dict[str, str]]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def _load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    concurrency: int,
    total: int,
    extra_headers: dict[str, str] | None = None,
    keep_headers: str | None = None,
) -> Result:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in (extra_headers or {}).items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request = head + body
    latencies: list[float] = []
    kept: list[dict[str, str]] = []
    errors = 0
    remaining = total

    async def worker() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                writer.write(request)
                status, headers = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
                if keep_headers is not None:
                    kept.append({keep_headers: headers.get(keep_headers, "")})
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        rps=len(latencies) / elapsed,
        p50_ms=1000 * latencies[len(latencies) // 2],
        p99_ms=1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        errors=errors,
        headers=kept,
    )


def load(
    host: str, port: int, path: str, body: bytes, concurrency: int, total: int, **kw: object
) -> Result:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_load(host, port, path, body, concurrency, total, **kw))  # type: ignore[arg-type]


def median_result(results: list[Result]) -> Result:
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        headers=[],
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repository = train_artifact(Path(tmp))
        body = request_body()
        path = "/v1/models/bench:predict"
        ps, pb = free_port(HOST_SERVER), free_port(HOST_BASELINE)
        with (
            model_server(repository, HOST_SERVER, ps),
            baseline_server(repository, HOST_BASELINE, pb),
        ):
            for target in ((HOST_SERVER, ps), (HOST_BASELINE, pb)):  # warm both
                load(*target, path, body, 16, 500)
            rows = []
            for concurrency in CONCURRENCY:
                ours, base = [], []
                for _ in range(REPEATS):
                    ours.append(
                        load(HOST_SERVER, ps, path, body, concurrency, REQUESTS[concurrency])
                    )
                    base.append(
                        load(HOST_BASELINE, pb, path, body, concurrency, REQUESTS[concurrency])
                    )
                rows.append((concurrency, median_result(ours), median_result(base)))
    print(
        f"small MLP ({N_FEATURES} features, hidden {HIDDEN}), torch threads {THREADS}, "
        f"{os.cpu_count()} CPUs, medians of {REPEATS} runs"
    )
    print(
        f"{'conc':>4} | {'server rps':>10} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'baseline rps':>12} {'p50 ms':>7} {'p99 ms':>7} | {'rps ratio':>9} {'p99 ratio':>9}"
    )
    for concurrency, ours_m, base_m in rows:
        print(
            f"{concurrency:>4} | {ours_m.rps:>10.0f} {ours_m.p50_ms:>7.2f} {ours_m.p99_ms:>7.2f} | "
            f"{base_m.rps:>12.0f} {base_m.p50_ms:>7.2f} {base_m.p99_ms:>7.2f} | "
            f"{ours_m.rps / base_m.rps:>8.2f}x {ours_m.p99_ms / base_m.p99_ms:>8.2f}x"
            + (
                f"  errors {ours_m.errors}/{base_m.errors}"
                if ours_m.errors or base_m.errors
                else ""
            )
        )
    final = rows[-1]
    verdict = final[1].rps >= 2 * final[2].rps and final[1].p99_ms <= final[2].p99_ms
    print(
        "target at concurrency 64 (>= 2x throughput, p99 no worse): "
        + ("met" if verdict else "NOT met")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="run the baseline server for this artifact")
    parser.add_argument("--host", default=HOST_BASELINE)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.baseline:
        run_baseline(args.baseline, args.host, args.port)
    else:
        main()
