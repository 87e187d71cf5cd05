"""What the traffic router costs, and how exactly it splits traffic.

Two model servers (the same trained small MLP, pinned to versions 1.0.0 and 1.1.0) run on
their own loopback IPs, and a router in front of them. Measured in the same run:

- added latency: p50 at concurrency 1 through the router minus p50 calling the server directly
  (router config 100% to one version);
- throughput through the router as a share of calling the server directly, at concurrency 16;
- the share of version 1.1.0 over 10,000 requests at a 90/10 split (from ``x-mlops-version``).

Medians over REPEATS runs. Run: ``.venv/bin/python benchmarks/router_overhead.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serving_throughput import (
    Result,
    free_port,
    load,
    model_server,
    process,
    request_body,
    train_artifact,
)

REPEATS = 3
LATENCY_REQUESTS = 600
THROUGHPUT_REQUESTS = 3000
SPLIT_REQUESTS = 10_000
HOSTS = {"1.0.0": "127.0.0.31", "1.1.0": "127.0.0.32"}
ROUTER_HOST = "127.0.0.33"
PATH = "/v1/models/bench:predict"


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


def median(results: list[Result], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results)


def main() -> None:
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
            for _ in range(REPEATS):
                lat_direct.append(load(*direct, PATH, body, 1, LATENCY_REQUESTS))
                lat_routed.append(load(*routed, PATH, body, 1, LATENCY_REQUESTS))
                tp_direct.append(load(*direct, PATH, body, 16, THROUGHPUT_REQUESTS))
                tp_routed.append(load(*routed, PATH, body, 16, THROUGHPUT_REQUESTS))

            config_file.write_text(router_config({"1.0.0": 90, "1.1.0": 10}, ports))
            import time

            time.sleep(1.0)  # the router re-reads its config
            split = load(*routed, PATH, body, 16, SPLIT_REQUESTS, keep_headers="x-mlops-version")
    seen = Counter(h["x-mlops-version"] for h in split.headers)
    share = 100 * seen["1.1.0"] / max(1, sum(seen.values()))
    added_p50 = median(lat_routed, "p50_ms") - median(lat_direct, "p50_ms")
    ratio = median(tp_routed, "rps") / median(tp_direct, "rps")
    print(f"{os.cpu_count()} CPUs, medians of {REPEATS} runs")
    print(
        f"p50 at concurrency 1: direct {median(lat_direct, 'p50_ms'):.3f} ms, "
        f"via router {median(lat_routed, 'p50_ms'):.3f} ms, added {added_p50:.3f} ms "
        f"(target <= 1 ms: {'met' if added_p50 <= 1 else 'NOT met'})"
    )
    print(
        f"throughput at concurrency 16: direct {median(tp_direct, 'rps'):.0f} rps, "
        f"via router {median(tp_routed, 'rps'):.0f} rps, ratio {ratio:.2f} "
        f"(target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'})"
    )
    print(
        f"90/10 split over {sum(seen.values())} requests: 1.1.0 got {share:.2f}% "
        f"(target 10 +/- 1.5: {'met' if abs(share - 10) <= 1.5 else 'NOT met'}), "
        f"errors {split.errors}"
    )


if __name__ == "__main__":
    main()
