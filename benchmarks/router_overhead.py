"""What the traffic router costs, and how exactly it splits traffic.

Two model servers (the same trained small MLP, pinned to versions 1.0.0 and 1.1.0) run on
their own loopback IPs, and a router in front of them. Measured in the same run:

- added latency: p50 at concurrency 1 through the router minus p50 calling the server directly
  (router config 100% to one version);
- throughput through the router as a share of calling the server directly, at concurrency 16,
  loaded by ``wrk`` when installed (``apt-get install wrk``), else by the keep-alive asyncio
  client of ``serving_throughput`` (which costs more CPU per request than the router itself,
  on the same cores, so it understates the ratio);
- the share of version 1.1.0 over 10,000 requests at a 90/10 split (from ``x-mlops-version``).

``--rounds`` rounds (default 7), direct and routed side by side within each round, the side
that goes first alternating from round to round; both sides are loaded alike (``wrk``: one
thread, 16 connections, the same seconds). Each ratio is taken within a round, and the figure
is the median of the rounds with their spread (the p50s are medians of the rounds).
Targets: added p50 <= 1 ms, throughput ratio (median) >= 0.80, the 1.1.0 share within
10 +/- 1.5 points. The last line is the JSON summary.
Run: ``.venv/bin/python benchmarks/router_overhead.py [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serving_throughput import (
    Result,
    first_then_second,
    free_port,
    load,
    model_server,
    process,
    request_body,
    train_artifact,
    wrk_load,
)

LATENCY_REQUESTS = 600
THROUGHPUT_REQUESTS = 3000
SPLIT_REQUESTS = 10_000
ROUNDS = 7
HOSTS = {"1.0.0": "127.0.0.31", "1.1.0": "127.0.0.32"}
ROUTER_HOST = "127.0.0.33"
PATH = "/v1/models/bench:predict"
MAX_ADDED_P50_MS = 1.0
MIN_THROUGHPUT_RATIO = 0.80
SPLIT_SHARE, SPLIT_TOLERANCE = 10.0, 1.5


def publish_second_version(root: Path) -> None:
    train_artifact(root, version="1.1.0")


def router_config(weights: dict[str, int], ports: dict[str, int]) -> str:
    return json.dumps(
        {
            "model": "bench",
            "backends": [
                {"version": v, "weight": w, "endpoints": [f"{HOSTS[v]}:{ports[v]}"]}
                for v, w in weights.items()
            ],
        }
    )


@contextmanager
def router(config_file: Path, port: int) -> Iterator[None]:
    env = {"ROUTER_CONFIG_FILE": str(config_file), "ROUTER_CONFIG_POLL_SECONDS": "0.2"}
    argv = [
        sys.executable,
        "-m",
        "mlops_serving",
        "route",
        "--host",
        ROUTER_HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with process(argv, env, ROUTER_HOST, port, "/readyz"):
        yield


def throughput(host: str, port: int, body: bytes) -> Result:
    """One throughput run at concurrency 16: ``wrk`` when installed, else the asyncio client."""
    if shutil.which("wrk"):
        return wrk_load(host, port, PATH, body, 16)
    return load(host, port, PATH, body, 16, THROUGHPUT_REQUESTS)


def median(results: list[Result], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in results))


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The JSON summary from the medians (direct and routed), the throughput ratio of each
    round (``throughput_ratios``: the median is judged) and the split's share of 1.1.0."""
    added_p50 = figures["routed_p50_ms"] - figures["direct_p50_ms"]
    rounds = figures["throughput_ratios"]
    ratio = statistics.median(rounds)
    share = figures["split_share_pct"]
    kept = {k: v for k, v in figures.items() if k != "throughput_ratios"}
    return {
        "benchmark": "router_overhead",
        "figures": {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in kept.items()},
            "added_p50_ms": round(added_p50, 3),
            "throughput_ratio": round(ratio, 3),
            "throughput_ratio_min": round(min(rounds), 3),
            "throughput_ratio_max": round(max(rounds), 3),
        },
        "targets": {
            "added_p50_ms": f"<= {MAX_ADDED_P50_MS}",
            "throughput_ratio": f">= {MIN_THROUGHPUT_RATIO}",
            "split_share_pct": f"{SPLIT_SHARE} +/- {SPLIT_TOLERANCE}",
        },
        "met": added_p50 <= MAX_ADDED_P50_MS
        and ratio >= MIN_THROUGHPUT_RATIO
        and abs(share - SPLIT_SHARE) <= SPLIT_TOLERANCE
        and figures.get("throughput_errors", 0) == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    rounds = parser.parse_args().rounds
    body = request_body()
    with tempfile.TemporaryDirectory() as tmp:
        root = train_artifact(Path(tmp) / "models")
        publish_second_version(root)
        ports = {v: free_port(h) for v, h in HOSTS.items()}
        router_port = free_port(ROUTER_HOST)
        config_file = Path(tmp) / "router.json"
        config_file.write_text(router_config({"1.0.0": 100, "1.1.0": 0}, ports))
        with (
            model_server(root, HOSTS["1.0.0"], ports["1.0.0"], MODEL_VERSIONS="bench:1.0.0"),
            model_server(
                root,
                HOSTS["1.1.0"],
                ports["1.1.0"],
                MODEL_VERSIONS="bench:1.1.0",
                PRELOAD_MODELS="bench:1.1.0",
            ),
            router(config_file, router_port),
        ):
            direct = (HOSTS["1.0.0"], ports["1.0.0"])
            routed = (ROUTER_HOST, router_port)
            for target in (direct, routed):
                load(*target, PATH, body, 16, 500)  # warm up connections and code paths
            lat_direct, lat_routed, tp_direct, tp_routed = [], [], [], []
            for index in range(rounds):
                # which side goes first alternates, so a change in the machine's load between
                # the two runs of a round favours neither side over the rounds
                for side in first_then_second(index, ("direct", "routed")):
                    target, lat, tp = (
                        (direct, lat_direct, tp_direct)
                        if side == "direct"
                        else (routed, lat_routed, tp_routed)
                    )
                    lat.append(load(*target, PATH, body, 1, LATENCY_REQUESTS))
                    tp.append(throughput(*target, body))

            config_file.write_text(router_config({"1.0.0": 90, "1.1.0": 10}, ports))
            time.sleep(1.0)  # the router re-reads its config
            split = load(*routed, PATH, body, 16, SPLIT_REQUESTS, keep_headers="x-mlops-version")
    seen = Counter(h["x-mlops-version"] for h in split.headers)
    share = 100 * seen["1.1.0"] / max(1, sum(seen.values()))
    figures: dict[str, Any] = {
        "cpus": os.cpu_count() or 0,
        "rounds": rounds,
        "direct_p50_ms": median(lat_direct, "p50_ms"),
        "routed_p50_ms": median(lat_routed, "p50_ms"),
        "direct_rps": median(tp_direct, "rps"),
        "routed_rps": median(tp_routed, "rps"),
        "throughput_ratios": [r.rps / d.rps for r, d in zip(tp_routed, tp_direct, strict=True)],
        "throughput_errors": sum(r.errors for r in tp_direct + tp_routed),
        "split_requests": sum(seen.values()),
        "split_share_pct": share,
        "split_errors": split.errors,
    }
    result = summary(figures)
    added_p50, ratio = result["figures"]["added_p50_ms"], result["figures"]["throughput_ratio"]
    tool = "wrk" if shutil.which("wrk") else "asyncio client"
    print(
        f"{os.cpu_count()} CPUs, {rounds} rounds, throughput load by {tool}, "
        f"load average {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"p50 at concurrency 1: direct {figures['direct_p50_ms']:.3f} ms, "
        f"via router {figures['routed_p50_ms']:.3f} ms, added {added_p50:.3f} ms (target <= 1 ms)"
    )
    print(
        f"throughput at concurrency 16: direct {figures['direct_rps']:.0f} rps, "
        f"via router {figures['routed_rps']:.0f} rps, ratio {ratio:.2f} (rounds "
        f"{result['figures']['throughput_ratio_min']:.2f}-"
        f"{result['figures']['throughput_ratio_max']:.2f}; target >= 0.80)"
    )
    print(
        f"90/10 split over {sum(seen.values())} requests: 1.1.0 got {share:.2f}% "
        f"(target 10 +/- 1.5), errors {split.errors}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
