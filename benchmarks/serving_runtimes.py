"""The two serving runtimes side by side: ONNX Runtime (the default) against torch.

Same artifact (the 32 -> 64 -> 64 -> 4 MLP of ``serving_throughput``, with its model.onnx), same
server, same run; only ``SERVING_RUNTIME`` differs. Measured (COLD_STARTS starts of each, ROUNDS
rounds of the throughputs):
- cold start: process start -> ``/v2/health/ready`` answering 200 with the model loaded;
- idle RSS: resident memory of the server after the warm-up, idle, one model loaded;
- throughput and p99 at concurrency 1 and 64, KServe v1 and Open Inference Protocol v2, with a
  bare ASGI app measured in the same rounds (what HTTP on this machine allows); which runtime
  goes first alternates from round to round;
- predictions' p99 at concurrency 16 on the ONNX runtime while another client keeps asking for
  explanations (one instance each), against the same load without them, for each explanation
  CPU share asked (``EXPLAIN_CPU_SHARE``; the server's default always among them), with the
  explanations answered per second meanwhile (the cost of the cap). The shares are measured
  round by round, alternating, one server each, and so are "alone" and "beside" within a round.
Each comparison is judged as ``serving_throughput`` and ``router_overhead`` judge theirs: the
ratio within each round (the two sides measured back to back), the median of the rounds; a
change in the machine's load between rounds then moves both sides of a ratio alike. The medians
of each side are reported beside the ratios.
Targets: cold start and idle RSS <= 1/3 of torch's; throughput >= torch's and p99 no worse
(v1, v2, c=1 and c=64); v1 and v2 >= 0.45 of the bare ASGI limit at c=64 on ONNX Runtime;
predictions' p99 under explain load <= 1.2x without, at the default share. The machine may be
shared: the figures are measured side by side, alternating, so read the ratios.
Run: ``.venv/bin/python benchmarks/serving_runtimes.py [--only explain] [--rounds 5]
[--shares 0.1,0.25,1]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import httpx

from mlops_serving.settings import ServerSettings
from serving_throughput import (
    HOST_BARE,
    HOST_SERVER,
    THREADS,
    V1_PATH,
    V2_PATH,
    Result,
    bare_server,
    first_then_second,
    free_port,
    load,
    measure,
    median_result,
    model_server,
    ratios,
    request_body,
    train_artifact,
    v2_request_body,
)

RUNTIMES = ("onnx", "torch")
CONCURRENCY = (1, 64)
COLD_STARTS = 5
#: rounds of the throughput figures: a p99 over WRK_SECONDS on a shared 2-CPU machine can flip
#: in a round where the machine stalls; more rounds make the median of the rounds' ratios judge
#: a real difference more surely, and do not make a tie (a ratio of 1) any likelier to pass
ROUNDS = 9
EXPLAIN_ROUNDS = 5
#: the server's own default: the share the target is judged at
DEFAULT_SHARE: float = ServerSettings.model_fields["explain_cpu_share"].default
#: a part of a whole CPU never holds the one worker back: explanations without the cap
UNCAPPED = 1.0
EXPLAIN_PATH = "/v1/models/bench:explain"
EXPLAIN_CONCURRENCY = 16
SPAWN = multiprocessing.get_context("spawn")


def cold_start(repository: Path, runtime: str) -> tuple[float, float]:
    """Seconds from process start to ready with the model loaded, and the idle RSS (MiB)."""
    port = free_port(HOST_SERVER)
    env = {
        **os.environ,
        "MODEL_REPOSITORY_URI": str(repository),
        "PRELOAD_MODELS": "bench:1.0.0",
        "TORCH_NUM_THREADS": THREADS,
        "SERVING_RUNTIME": runtime,
    }
    argv = [sys.executable, "-m", "mlops_serving", "serve", "--host", HOST_SERVER]
    argv += ["--port", str(port), "--log-level", "warning"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    try:
        url = f"http://{HOST_SERVER}:{port}/v2/health/ready"
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{runtime} server exited with {proc.returncode}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        load(HOST_SERVER, port, V1_PATH, request_body(), 4, 200)
        time.sleep(1.0)
        return seconds, rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _explain_load(port: int, stop: EventType, explained: Synchronized[int]) -> None:
    """Ask for explanations one after another until ``stop``, counting those answered: run in a
    process of its own, as another client would be, so that it does not share the measuring
    client's interpreter."""
    body = request_body()
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            answer = client.post(f"http://{HOST_SERVER}:{port}{EXPLAIN_PATH}", content=body)
            if answer.status_code == 200:
                with explained.get_lock():
                    explained.value += 1


@dataclass
class ExplainRounds:
    """One server's rounds at one ``EXPLAIN_CPU_SHARE``: predictions alone, then beside the
    explaining client, and the explanations answered per second during each 'beside'."""

    share: float
    alone: list[Result]
    beside: list[Result]
    explained_per_s: list[float]


def _beside_explanations(port: int, pid: int) -> tuple[Result, float]:
    """Predictions while another client asks for explanations, and that client's rate."""
    stop, explained = SPAWN.Event(), SPAWN.Value("i", 0)
    explainer = SPAWN.Process(target=_explain_load, args=(port, stop, explained))
    explainer.start()
    try:
        while explained.value == 0:  # the client has started and been answered once
            time.sleep(0.01)
        count, started = explained.value, time.perf_counter()
        result = measure(HOST_SERVER, port, V1_PATH, request_body(), 16, pid)
        rate = (explained.value - count) / (time.perf_counter() - started)
    finally:
        stop.set()
        explainer.join(timeout=120)
    return result, rate


def explain_interference(repository: Path, shares: list[float], rounds: int) -> list[ExplainRounds]:
    """Predictions (v1, c=16) on ONNX Runtime without, then with, explanations asked alongside,
    one pair per round and share; the shares' servers run side by side, measured in turn."""
    found = [ExplainRounds(share, [], [], []) for share in shares]
    with contextlib.ExitStack() as servers:
        ports, pids = [], []
        for share in shares:
            port = free_port(HOST_SERVER)
            env = {"SERVING_RUNTIME": "onnx", "EXPLAIN_CPU_SHARE": str(share)}
            pids.append(servers.enter_context(model_server(repository, HOST_SERVER, port, **env)))
            ports.append(port)
            httpx.post(
                f"http://{HOST_SERVER}:{port}{EXPLAIN_PATH}", content=request_body(), timeout=180
            )  # starts the explanation worker: its spawn and shap import stay out of the figures
        for index in range(rounds):
            for rounds_at, port, pid in zip(found, ports, pids, strict=True):
                for side in first_then_second(index, ("alone", "beside")):
                    if side == "alone":
                        alone = measure(HOST_SERVER, port, V1_PATH, request_body(), 16, pid)
                        rounds_at.alone.append(alone)
                    else:
                        result, rate = _beside_explanations(port, pid)
                        rounds_at.beside.append(result)
                        rounds_at.explained_per_s.append(rate)
    return found


RuntimeRounds = dict[tuple[str, str, int], list[Result]]


def throughput(repository: Path) -> RuntimeRounds:
    """(runtime, protocol, concurrency) -> its Result in each round; runtime 'bare' for the bare
    app, measured after the two runtimes in each round."""
    ports = {runtime: free_port(HOST_SERVER) for runtime in RUNTIMES}
    bare_port = free_port(HOST_BARE)
    found: dict[tuple[str, str, int], list[Result]] = {}
    bodies = {"v1": (V1_PATH, request_body()), "v2": (V2_PATH, v2_request_body())}
    with (
        model_server(repository, HOST_SERVER, ports["onnx"], SERVING_RUNTIME="onnx") as onnx_pid,
        model_server(repository, HOST_SERVER, ports["torch"], SERVING_RUNTIME="torch") as t_pid,
        bare_server(HOST_BARE, bare_port) as bare_pid,
    ):
        pids = {"onnx": onnx_pid, "torch": t_pid}
        for runtime in RUNTIMES:
            for path, body in bodies.values():
                load(HOST_SERVER, ports[runtime], path, body, 16, 500)
        load(HOST_BARE, bare_port, V1_PATH, request_body(), 16, 500)
        for concurrency in CONCURRENCY:
            for index in range(ROUNDS):
                for runtime in first_then_second(index, RUNTIMES):
                    for protocol, (path, body) in bodies.items():
                        result = measure(
                            HOST_SERVER, ports[runtime], path, body, concurrency, pids[runtime]
                        )
                        found.setdefault((runtime, protocol, concurrency), []).append(result)
                        _print_round(runtime, protocol, concurrency, result)
                bare = measure(HOST_BARE, bare_port, V1_PATH, request_body(), concurrency, bare_pid)
                found.setdefault(("bare", "v1", concurrency), []).append(bare)
                _print_round("bare", "v1", concurrency, bare)
    return found


def _print_round(runtime: str, protocol: str, concurrency: int, r: Result) -> None:
    print(
        f"  round: {runtime:>5} {protocol} c={concurrency:<3} {r.rps:>8.0f} rps  p50 "
        f"{r.p50_ms:>6.2f} ms  p99 {r.p99_ms:>6.2f} ms  server CPU {r.cpu_us:>5.1f} us/request",
        flush=True,
    )


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def runtime_figures(
    starts: dict[str, list[float]],
    rss: dict[str, list[float]],
    rounds: RuntimeRounds,
) -> tuple[dict[str, Any], dict[str, str], bool]:
    """Medians per runtime, the ratios within each round (their median judged), the targets,
    and whether they are met."""
    figures = {key: median_result(results) for key, results in rounds.items()}
    numbers: dict[str, Any] = {}
    for runtime in RUNTIMES:
        numbers[f"{runtime}_cold_start_s"] = spread(starts[runtime])
        numbers[f"{runtime}_idle_rss_mib"] = spread(rss[runtime])
    cold = statistics.median(starts["onnx"]) / statistics.median(starts["torch"])
    memory = statistics.median(rss["onnx"]) / statistics.median(rss["torch"])
    numbers["cold_start_onnx_of_torch"] = round(cold, 3)
    numbers["idle_rss_onnx_of_torch"] = round(memory, 3)
    met = cold <= 1 / 3 and memory <= 1 / 3
    top = max(CONCURRENCY)
    for protocol in ("v1", "v2"):
        for concurrency in CONCURRENCY:
            onnx, torch = (
                figures[("onnx", protocol, concurrency)],
                figures[("torch", protocol, concurrency)],
            )
            key = f"{protocol}_c{concurrency}"
            numbers[f"{key}_rps"] = {"onnx": round(onnx.rps), "torch": round(torch.rps)}
            numbers[f"{key}_p99_ms"] = {
                "onnx": round(onnx.p99_ms, 2),
                "torch": round(torch.p99_ms, 2),
            }
            pair = ("onnx", protocol, concurrency), ("torch", protocol, concurrency)
            rps_ratios = ratios(rounds, *pair, "rps")
            p99_ratios = ratios(rounds, *pair, "p99_ms")
            numbers[f"{key}_rps_onnx_of_torch"] = spread(rps_ratios)
            numbers[f"{key}_p99_onnx_of_torch"] = spread(p99_ratios)
            met = met and statistics.median(rps_ratios) >= 1.0
            met = met and statistics.median(p99_ratios) <= 1.0
            met = met and onnx.errors == 0 and torch.errors == 0
        of_bare = ratios(rounds, ("onnx", protocol, top), ("bare", "v1", top), "rps")
        numbers[f"{protocol}_onnx_of_bare_c{top}"] = spread(of_bare)
        met = met and statistics.median(of_bare) >= 0.45
    numbers[f"bare_rps_c{top}"] = round(figures[("bare", "v1", top)].rps)
    numbers["rounds"] = len(rounds[("bare", "v1", top)])
    targets = {
        "cold_start_onnx_of_torch": "<= 0.333",
        "idle_rss_onnx_of_torch": "<= 0.333",
        # named so that ``make bench`` finds the figures each judges (v1 and v2, c=1 and c=64)
        "rps_onnx_of_torch": ">= 1.0 (the median of the rounds)",
        "p99_onnx_of_torch": "<= 1.0 (the median of the rounds)",
        f"onnx_of_bare_c{top}": ">= 0.45 (the median of the rounds)",
    }
    return numbers, targets, met


def explain_figures(
    explain: list[ExplainRounds], judged_share: float = DEFAULT_SHARE
) -> tuple[dict[str, Any], dict[str, str], bool]:
    """Per share: the predictions' p99 alone and beside explanations (median and range of the
    rounds), their ratio within each round and of the medians, the explanations per second; the
    target is judged on the median of the rounds' ratios at ``judged_share``."""
    numbers: dict[str, Any] = {}
    met = True
    by_share = {rounds.share: rounds for rounds in explain}
    if judged_share not in by_share:
        raise ValueError(f"no rounds at the judged share {judged_share}")
    for rounds in sorted(explain, key=lambda r: r.share):
        alone, beside = median_result(rounds.alone), median_result(rounds.beside)
        per_round = ratios(
            {"alone": rounds.alone, "beside": rounds.beside}, "beside", "alone", "p99_ms"
        )
        ratio = statistics.median(per_round)
        numbers[f"explain_share_{rounds.share:g}"] = {
            "rounds": len(rounds.alone),
            "predict_p99_ms_c16_alone": spread([r.p99_ms for r in rounds.alone]),
            "predict_p99_ms_c16_beside_explanations": spread([r.p99_ms for r in rounds.beside]),
            "predict_p99_under_explain_ratio": round(ratio, 3),
            "ratio_per_round": spread(per_round),
            "ratio_of_medians": round(beside.p99_ms / alone.p99_ms, 3),
            "explanations_per_s": spread(rounds.explained_per_s),
        }
        if rounds.share == judged_share:
            numbers["explain_cpu_share"] = judged_share
            numbers["predict_p99_under_explain_ratio"] = round(ratio, 3)
            met = ratio <= 1.2 and alone.errors == 0 and beside.errors == 0
    targets = {"predict_p99_under_explain_ratio": "<= 1.2"}
    return numbers, targets, met


def summary(
    explain: list[ExplainRounds],
    runtimes: tuple[dict[str, list[float]], dict[str, list[float]], RuntimeRounds] | None = None,
    judged_share: float = DEFAULT_SHARE,
) -> dict[str, Any]:
    """The JSON summary: medians per runtime and their ratios beside the targets (the runtime
    figures only when measured), and the explain figure per share."""
    numbers: dict[str, Any] = {}
    targets: dict[str, str] = {}
    met = True
    if runtimes is not None:
        numbers, targets, met = runtime_figures(*runtimes)
    explain_numbers, explain_targets, explain_met = explain_figures(explain, judged_share)
    numbers.update(explain_numbers)
    targets.update(explain_targets)
    return {
        "benchmark": "serving_runtimes",
        "figures": numbers,
        "targets": targets,
        "met": met and explain_met,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", choices=["explain"], help="measure the explain figure alone (saves minutes)"
    )
    parser.add_argument("--rounds", type=int, default=EXPLAIN_ROUNDS, help="explain rounds")
    parser.add_argument(
        "--shares",
        default=f"{DEFAULT_SHARE:g},{UNCAPPED:g}",
        help="EXPLAIN_CPU_SHARE values, comma-separated (the default is always measured)",
    )
    args = parser.parse_args()
    shares = sorted({float(x) for x in args.shares.split(",") if x.strip()} | {DEFAULT_SHARE})
    with tempfile.TemporaryDirectory() as tmp:
        repository = train_artifact(Path(tmp))
        runtimes = None
        if args.only is None:
            starts: dict[str, list[float]] = {r: [] for r in RUNTIMES}
            rss: dict[str, list[float]] = {r: [] for r in RUNTIMES}
            for _ in range(COLD_STARTS):
                for runtime in RUNTIMES:
                    seconds, mib = cold_start(repository, runtime)
                    starts[runtime].append(seconds)
                    rss[runtime].append(mib)
            figures = throughput(repository)
            runtimes = (starts, rss, figures)
        explain = explain_interference(repository, shares, args.rounds)
    print(f"runtimes {RUNTIMES}, {THREADS} inference thread, {os.cpu_count()} CPUs")
    medians = {
        key: median_result(found) for key, found in (runtimes[2] if runtimes else {}).items()
    }
    for (runtime, protocol, concurrency), r in sorted(medians.items()):
        print(
            f"{runtime:>6} {protocol} c={concurrency:<3} {r.rps:>8.0f} rps  p50 "
            f"{r.p50_ms:>6.2f} ms  p99 {r.p99_ms:>6.2f} ms  server CPU {r.cpu_us:>5.1f} "
            f"us/request  errors {r.errors}"
        )
    for rounds in explain:
        pairs = zip(rounds.alone, rounds.beside, rounds.explained_per_s, strict=True)
        for alone, beside, rate in pairs:
            print(
                f"explain share {rounds.share:<5g} p99 alone {alone.p99_ms:>6.2f} ms  beside "
                f"{beside.p99_ms:>6.2f} ms  ({beside.p99_ms / alone.p99_ms:.2f}x)  "
                f"{rate:>5.1f} explanations/s"
            )
    print(json.dumps(summary(explain, runtimes)))


if __name__ == "__main__":
    main()
