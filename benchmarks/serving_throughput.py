"""Throughput and latency of the model server against two baselines measured in the same run.

- **bare ASGI**: a constant answer from a plain ASGI callable under the same uvicorn options: what
  HTTP on this machine allows, with no framework, JSON or model at all;
- **per-request**: a minimal FastAPI handler that parses JSON and calls the model once per
  request (what a first server would do).

All servers load the same trained artifact (the 32 -> 64 -> 64 -> 4 MLP, trained here with the
shared core library) and run in their own processes on loopback with one torch thread. The load
generator is ``wrk`` when installed (``apt-get install wrk``), else a small keep-alive asyncio
client in this process. The model server is measured on KServe v1 ``:predict`` and on Open
Inference Protocol v2 ``infer``, at concurrency 1 and 64, in ROUNDS rounds of short runs with
the servers alternating within each round. Each ratio is taken within a round (the subjects ran
seconds apart) and the figure is the median of the rounds, with their spread (``*_min``,
``*_max``); ``met`` judges the medians. Targets: at concurrency 64, v1 and v2 reach >= 30% of
the bare ASGI limit with p99 no worse than the per-request server's; at concurrency 1 they are
no slower than the per-request server. The machine may be shared: read the ratios (measured
side by side), not the absolute figures. Each server's CPU time per request (all its threads,
from /proc) is reported beside its throughput: on a busy machine the CPU share a server gets
swings from run to run, its CPU cost per request much less, so ``*_cpu_of_bare_c64`` (the bare
app's CPU per request over ours) is the steadier estimate of the throughput ratio
on an idle machine.
Run: ``.venv/bin/python benchmarks/serving_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

N_FEATURES = 32
HIDDEN = [64, 64]
CLASSES = ["a", "b", "c", "d"]
CONCURRENCY = (1, 64)
REQUESTS = {1: 1500, 16: 2000, 64: 8000}
WRK_SECONDS = 3
ROUNDS = 5
HOST_SERVER = "127.0.0.2"
HOST_BASELINE = "127.0.0.3"
HOST_BARE = "127.0.0.5"
THREADS = "1"
V1_PATH = "/v1/models/bench:predict"
V2_PATH = "/v2/models/bench/infer"


# ---- a trained model ----------------------------------------------------------------------


def synthetic_task(
    rng: np.random.Generator, *, rows: int, hidden: list[int]
) -> tuple[list[str], dict[str, list[object]], Any, Any]:
    """``rows`` rows of ``N_FEATURES`` normal features labelled by the signs of two feature
    sums (four classes): the column names, the table, its fitted preprocessor and the
    configuration of an MLP with ``hidden`` layers on it."""
    from mlops_core.artifact_config import ArtifactConfig
    from mlops_core.preprocessing import fit_tabular
    from mlops_core.training_spec import ModelSpec

    names = [f"f{i}" for i in range(N_FEATURES)]
    x = rng.normal(size=(rows, N_FEATURES))
    y = 2 * (x[:, :2].sum(axis=1) > 0).astype(int) + (x[:, 2:4].sum(axis=1) > 0).astype(int)
    data: dict[str, list[object]] = {n: x[:, i].tolist() for i, n in enumerate(names)}
    data["label"] = [CLASSES[v] for v in y]
    pre = fit_tabular(data, feature_columns=names)
    config = ArtifactConfig(
        architecture="mlp",
        task="tabular",
        model=ModelSpec(architecture="mlp", hidden_sizes=hidden, dropout=0.0),
        class_labels=CLASSES,
        label_column="label",
        feature_names=names,
        num_features=pre.num_features,
    )
    return names, data, pre, config


def train_artifact(
    root: Path, *, model: str = "bench", version: str = "1.0.0", calibrate: bool = False
) -> Path:
    """Train a small MLP on synthetic data with the core library and publish it under root
    (with its temperature fitted on 500 fresh rows when ``calibrate``)."""
    import torch

    from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
    from mlops_core.models import build_model
    from mlops_core.onnx_export import export_onnx
    from mlops_core.reference_stats import compute_reference_stats
    from mlops_core.storage import open_store

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    names, data, pre, config = synthetic_task(rng, rows=2000, hidden=HIDDEN)
    module = build_model(config)
    inputs = torch.from_numpy(pre.transform_columns(data))
    target = torch.tensor([CLASSES.index(str(v)) for v in data["label"]])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(inputs), target)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    module.eval()
    calibration = None
    if calibrate:
        from mlops_core.calibration import fit_temperature
        from mlops_core.models import probabilities

        x_fresh = rng.normal(size=(500, N_FEATURES))
        fresh = 2 * (x_fresh[:, :2].sum(axis=1) > 0) + (x_fresh[:, 2:4].sum(axis=1) > 0)
        columns = {n: x_fresh[:, i].tolist() for i, n in enumerate(names)}
        with torch.no_grad():
            proba = probabilities(module(torch.from_numpy(pre.transform_columns(columns))))
        calibration = fit_temperature(proba.numpy(), fresh.astype(int))
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
        onnx=export_onnx(module, config, inputs.numpy()),  # served by ONNX Runtime by default
        calibration=calibration,
    )
    return root


def request_body() -> bytes:
    rng = np.random.default_rng(1)
    return json.dumps(
        {"instances": [{f"f{i}": float(v) for i, v in enumerate(rng.normal(size=N_FEATURES))}]}
    ).encode()


def v2_request_body() -> bytes:
    """One row as one ``[1, 32]`` FP32 tensor, the layout OIP clients send."""
    rng = np.random.default_rng(1)
    row = [float(v) for v in rng.normal(size=N_FEATURES)]
    tensor = {"name": "x", "shape": [1, N_FEATURES], "datatype": "FP32", "data": row}
    return json.dumps({"inputs": [tensor]}).encode()


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


# ---- the bare ASGI limit ------------------------------------------------------------------


BARE_ANSWER = b'{"predictions":["a"]}'


async def bare_app(scope: dict[str, object], receive: object, send: object) -> None:
    """A constant answer with no framework: the most uvicorn on this machine can serve."""
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the body, as any server must
        message = await receive()  # type: ignore[operator]
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"21")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": BARE_ANSWER})  # type: ignore[operator]


def run_bare(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app, host=host, port=port, log_level="warning", loop="uvloop", http="httptools"
    )


@contextmanager
def bare_server(host: str, port: int) -> Iterator[int]:
    argv = [sys.executable, __file__, "--bare", "--host", host, "--port", str(port)]
    with process(argv, {}, host, port, "/") as proc:
        yield proc.pid


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
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        wait_ready(host, port, ready, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def model_server(repository: Path, host: str, port: int, **env: str) -> Iterator[int]:
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
    with process(argv, settings, host, port, "/v2/health/ready") as proc:
        yield proc.pid


@contextmanager
def baseline_server(repository: Path, host: str, port: int) -> Iterator[int]:
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
    with process(argv, {}, host, port, "/ready") as proc:
        yield proc.pid


# ---- load generator -------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    headers: list[dict[str, str]]
    cpu_us: float = 0.0  # server CPU time (all threads) per request


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
        cpu_us=statistics.median(r.cpu_us for r in results),
    )


WRK_SCRIPT = """
local file = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
"""


def _wrk_ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)$", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def wrk_load(host: str, port: int, path: str, body: bytes, concurrency: int) -> Result:
    """``wrk`` for WRK_SECONDS: requests per second and latency percentiles."""
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body_file))
        argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{WRK_SECONDS}s", "--latency"]
        argv += ["-s", str(script), f"http://{host}:{port}{path}"]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = int(bad.group(1)) if bad else 0
    return Result(rps=rps, p50_ms=p50, p99_ms=p99, errors=errors, headers=[], cpu_us=count)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(host: str, port: int, path: str, body: bytes, concurrency: int, pid: int) -> Result:
    """One run, with the server's CPU time per request: on a shared machine the CPU share a
    server gets varies from run to run, its CPU cost per request much less."""
    cpu = cpu_seconds(pid)
    if shutil.which("wrk"):
        result = wrk_load(host, port, path, body, concurrency)
        count = result.cpu_us  # wrk_load reports the request count there
    else:
        result = load(host, port, path, body, concurrency, REQUESTS[concurrency])
        count = REQUESTS[concurrency]
    result.cpu_us = 1e6 * (cpu_seconds(pid) - cpu) / max(count, 1)
    return result


Targets = tuple[tuple[str, int], ...]


Rounds = dict[tuple[str, int], list[Result]]
Key = TypeVar("Key", bound=Hashable)


def first_then_second(index: int, sides: tuple[str, str]) -> tuple[str, str]:
    """The order of the two sides in round ``index``: as given in even rounds, swapped in odd."""
    return sides if index % 2 == 0 else (sides[1], sides[0])


def run_all(repository: Path) -> Rounds:
    """The results of every round per (subject, concurrency), subjects alternating within each
    round."""
    v1, v2 = request_body(), v2_request_body()
    ps, pb, pa = free_port(HOST_SERVER), free_port(HOST_BASELINE), free_port(HOST_BARE)
    found: dict[tuple[str, int], list[Result]] = {}
    with (
        model_server(repository, HOST_SERVER, ps) as server_pid,
        baseline_server(repository, HOST_BASELINE, pb) as baseline_pid,
        bare_server(HOST_BARE, pa) as bare_pid,
    ):
        subjects = {
            "v1": (HOST_SERVER, ps, V1_PATH, v1, server_pid),
            "v2": (HOST_SERVER, ps, V2_PATH, v2, server_pid),
            "per-request": (HOST_BASELINE, pb, V1_PATH, v1, baseline_pid),
            "bare": (HOST_BARE, pa, V1_PATH, v1, bare_pid),
        }
        for host, port, path, body, _ in subjects.values():  # warm up every path
            load(host, port, path, body, 16, 500)
        for concurrency in CONCURRENCY:
            for _ in range(ROUNDS):
                for name, (host, port, path, body, pid) in subjects.items():
                    result = measure(host, port, path, body, concurrency, pid)
                    found.setdefault((name, concurrency), []).append(result)
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repository = train_artifact(Path(tmp))
        rounds = run_all(repository)
    figures = {key: median_result(results) for key, results in rounds.items()}
    tool = "wrk" if shutil.which("wrk") else "asyncio client"
    print(
        f"MLP {N_FEATURES} -> {' -> '.join(map(str, HIDDEN))} -> {len(CLASSES)}, torch threads "
        f"{THREADS}, {os.cpu_count()} CPUs, load by {tool}, medians of {ROUNDS} rounds"
    )
    print(
        f"{'subject':>12} {'conc':>4} | {'rps':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'CPU us/req':>10}"
    )
    for (name, concurrency), r in sorted(figures.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"{name:>12} {concurrency:>4} | {r.rps:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{r.errors:>6} {r.cpu_us:>10.1f}"
        )
    result = summary(rounds)
    top = max(CONCURRENCY)
    for protocol in ("v1", "v2"):
        numbers = result["figures"]
        print(
            f"{protocol}: {numbers[f'{protocol}_of_bare_c64']:.1%} of the bare ASGI limit at "
            f"c={top} (rounds {numbers[f'{protocol}_of_bare_c64_min']:.1%}-"
            f"{numbers[f'{protocol}_of_bare_c64_max']:.1%}), "
            f"{numbers[f'{protocol}_of_per_request_c1']:.2f}x the per-request server "
            f"at c=1, p99 {numbers[f'{protocol}_p99_vs_per_request_c64']:.2f}x its p99 at c={top}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(json.dumps(result))


def ratios(rounds: Mapping[Key, list[Result]], subject: Key, base: Key, attr: str) -> list[float]:
    """``subject / base`` of one figure within each round."""
    pairs = zip(rounds[subject], rounds[base], strict=True)
    return [float(getattr(a, attr)) / float(getattr(b, attr)) for a, b in pairs]


def summary(rounds: Rounds) -> dict[str, Any]:
    """The JSON summary: each ratio within each round, the median of the rounds judged."""
    top = max(CONCURRENCY)
    figures = {key: median_result(results) for key, results in rounds.items()}
    bare = figures[("bare", top)]
    numbers: dict[str, float] = {
        "rounds": len(rounds[("bare", top)]),
        "bare_rps_c64": round(bare.rps),
    }
    met = True
    for protocol in ("v1", "v2"):
        busy = figures[(protocol, top)]
        of_bare_rounds = ratios(rounds, (protocol, top), ("bare", top), "rps")
        of_bare = statistics.median(of_bare_rounds)
        of_single = statistics.median(ratios(rounds, (protocol, 1), ("per-request", 1), "rps"))
        p99_ratio = statistics.median(
            ratios(rounds, (protocol, top), ("per-request", top), "p99_ms")
        )
        errors = sum(r.errors for r in rounds[(protocol, top)] + rounds[(protocol, 1)])
        numbers[f"{protocol}_rps_c64"] = round(busy.rps)
        numbers[f"{protocol}_of_bare_c64"] = round(of_bare, 3)
        numbers[f"{protocol}_of_bare_c64_min"] = round(min(of_bare_rounds), 3)
        numbers[f"{protocol}_of_bare_c64_max"] = round(max(of_bare_rounds), 3)
        numbers[f"{protocol}_of_per_request_c64"] = round(
            statistics.median(ratios(rounds, (protocol, top), ("per-request", top), "rps")), 2
        )
        numbers[f"{protocol}_p99_ms_c64"] = round(busy.p99_ms, 2)
        numbers[f"{protocol}_p99_vs_per_request_c64"] = round(p99_ratio, 2)
        numbers[f"{protocol}_of_per_request_c1"] = round(of_single, 2)
        numbers[f"{protocol}_cpu_us_per_request_c64"] = round(busy.cpu_us, 1)
        numbers[f"{protocol}_cpu_of_bare_c64"] = round(
            1 / statistics.median(ratios(rounds, (protocol, top), ("bare", top), "cpu_us")), 3
        )
        numbers[f"{protocol}_cpu_of_per_request_c1"] = round(
            1 / statistics.median(ratios(rounds, (protocol, 1), ("per-request", 1), "cpu_us")), 2
        )
        numbers[f"{protocol}_errors"] = errors
        met = met and of_bare >= 0.30 and of_single >= 1.0 and p99_ratio <= 1.0 and errors == 0
    numbers["per_request_of_bare_c64"] = round(
        statistics.median(ratios(rounds, ("per-request", top), ("bare", top), "rps")), 3
    )
    numbers["bare_cpu_us_per_request_c64"] = round(bare.cpu_us, 1)
    targets = {
        "of_bare_c64": ">= 0.30",
        "of_per_request_c1": ">= 1.0",
        "p99_vs_per_request_c64": "<= 1.0",
        "errors": "0",
    }
    return {"benchmark": "serving_throughput", "figures": numbers, "targets": targets, "met": met}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="run the baseline server for this artifact")
    parser.add_argument("--bare", action="store_true", help="run the bare ASGI server")
    parser.add_argument("--host", default=HOST_BASELINE)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.baseline:
        run_baseline(args.baseline, args.host, args.port)
    elif args.bare:
        run_bare(args.host, args.port)
    else:
        main()
