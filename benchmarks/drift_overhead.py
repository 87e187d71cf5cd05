"""What drift tracking costs the model server: throughput with it on against off, same run.

Two model servers load the same small trained model (``serving_throughput.train_artifact``)
with the same settings except ``DRIFT_DETECTION_ENABLED`` (on: the default PSI, every batch
sampled into the windows). While the drift-on server is loaded, a poller reads its drift
endpoint every second, as the operator does on its interval (slower in practice). Load comes
from ``serving_throughput``'s keep-alive client, concurrency 16 and 64, the two servers
alternating, in ROUNDS rounds: each ratio is taken within a round and the figure is the median
of the rounds, with their spread. Target: throughput with drift on ≥ 0.9 × off (the median).

Run: ``nice .venv/bin/python benchmarks/drift_overhead.py``. The last line is the JSON summary.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_throughput as harness  # the shared load harness

CONCURRENCY = (16, 64)
REQUESTS = {16: 2000, 64: 4000}
ROUNDS = 5
HOST_ON, HOST_OFF = "127.0.0.4", "127.0.0.5"
TARGET = 0.9


class DriftPoller:
    """Reads the drift endpoint every ``period`` seconds until stopped."""

    def __init__(self, url: str, period: float = 1.0) -> None:
        self._url, self._period = url, period
        self._stop = threading.Event()
        self.reads = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(self._period):
                client.get(self._url).raise_for_status()
                self.reads += 1

    def __enter__(self) -> DriftPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repository = harness.train_artifact(Path(tmp))
        body = harness.request_body()
        path = "/v1/models/bench:predict"
        p_on, p_off = harness.free_port(HOST_ON), harness.free_port(HOST_OFF)
        with (
            harness.model_server(repository, HOST_ON, p_on, DRIFT_DETECTION_ENABLED="true"),
            harness.model_server(repository, HOST_OFF, p_off, DRIFT_DETECTION_ENABLED="false"),
        ):
            for host, port in ((HOST_ON, p_on), (HOST_OFF, p_off)):
                harness.load(host, port, path, body, 16, 500)
            drift_url = f"http://{HOST_ON}:{p_on}/mlops/models/bench/drift"
            rows = []
            reads = 0
            for concurrency in CONCURRENCY:
                on, off = [], []
                for _ in range(ROUNDS):
                    with DriftPoller(drift_url) as poller:
                        on.append(
                            harness.load(
                                HOST_ON, p_on, path, body, concurrency, REQUESTS[concurrency]
                            )
                        )
                    reads += poller.reads
                    off.append(
                        harness.load(
                            HOST_OFF, p_off, path, body, concurrency, REQUESTS[concurrency]
                        )
                    )
                rows.append((concurrency, on, off))
            final = httpx.get(drift_url, timeout=5).json()
    print(
        f"small MLP, drift on (psi, {final['windowSize']}-value windows) against off; "
        f"medians of {ROUNDS} rounds; {reads} drift reads during the drift-on runs"
    )
    print(
        f"{'conc':>4} | {'on rps':>8} {'p99 ms':>7} | {'off rps':>8} {'p99 ms':>7} | {'on/off':>6}"
    )
    figures: dict[str, float] = {"rounds": ROUNDS, "drift_reads": reads}
    for concurrency, on, off in rows:
        ratios = [a.rps / b.rps for a, b in zip(on, off, strict=True)]
        on_m, off_m = harness.median_result(on), harness.median_result(off)
        ratio = statistics.median(ratios)
        print(
            f"{concurrency:>4} | {on_m.rps:>8.0f} {on_m.p99_ms:>7.2f} | {off_m.rps:>8.0f} "
            f"{off_m.p99_ms:>7.2f} | {ratio:>6.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f})"
        )
        figures |= {
            f"throughput_ratio_c{concurrency}": round(ratio, 3),
            f"throughput_ratio_min_c{concurrency}": round(min(ratios), 3),
            f"throughput_ratio_max_c{concurrency}": round(max(ratios), 3),
            f"rps_on_c{concurrency}": round(on_m.rps),
            f"rps_off_c{concurrency}": round(off_m.rps),
        }
    print(json.dumps(summary(figures)))


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary: throughput with drift tracking on against off (the baseline, same
    run), at every concurrency."""
    ratios = {k: v for k, v in figures.items() if k.startswith("throughput_ratio_c")}  # medians
    return {
        "benchmark": "drift_overhead",
        "figures": figures,
        "targets": dict.fromkeys(ratios, f">= {TARGET}"),
        "met": bool(ratios) and min(ratios.values()) >= TARGET,
    }


if __name__ == "__main__":
    main()
