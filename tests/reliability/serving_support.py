"""Model servers and routers as real processes on loopback, for the serving fault, soak and
generated-input tests (built on the integration tier's tiny trained models)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from reliability_support import CounterRead
from test_serving_models import (
    FEATURES,
    ServerProcess,
    run_process,
    run_server,
    tabular_data,
    train_tabular,
)

from mlops_core.storage import join_uri, open_store

__all__ = ["ServerProcess", "run_router", "run_server"]

PREDICT_V1 = "/v1/models/fraud:predict"


def fraud_versions(root: Path | str, count: int) -> list[str]:
    """``count`` versions of the tiny fraud model (1.0.0, 1.1.0, …) under ``root``."""
    versions = [f"1.{minor}.0" for minor in range(count)]
    for seed, version in enumerate(versions):
        store = open_store(join_uri(str(root), "fraud", version))
        train_tabular(store, version=version, seed=seed, epochs=15)
    return versions


def records(n: int, *, seed: int) -> list[dict[str, object]]:
    data = tabular_data(n, seed=seed)
    return [{f: data[f][i] for f in FEATURES} for i in range(n)]


def write_router_config(path: Path, config: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(path)


def run_router(
    config: dict[str, object], *, host: str, log_dir: Path
) -> contextlib.AbstractContextManager[ServerProcess]:
    path = log_dir / f"router-{host}.json"
    write_router_config(path, config)
    env = {"ROUTER_CONFIG_FILE": str(path), "ROUTER_CONFIG_POLL_SECONDS": "0.2"}
    return run_process("route", host=host, env=env, log_dir=log_dir, ready_path="/readyz")


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` in Prometheus text format (with ``labels``, only
    the samples carrying those label values)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(match.group(2))
    return total


def read_counter(client: httpx.Client, name: str, **labels: str) -> CounterRead:
    started = time.monotonic()
    text = client.get("/metrics").text
    return CounterRead(started, time.monotonic(), metric_total(text, name, **labels))


@dataclass
class LoadResult:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: (monotonic time, status or 0 for a transport error) of every failed request
    failures: list[tuple[float, int]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return len(self.failures)


class SteadyLoad:
    """``clients`` threads sending requests back to back until stopped."""

    def __init__(
        self,
        url: str,
        *,
        clients: int,
        request: Callable[[httpx.Client, int], httpx.Response],
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.clients = clients
        self.request = request
        self.timeout = timeout
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)
        ]

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            count = 0
            while not self._stop.is_set():
                count += 1
                try:
                    status = self.request(client, worker * 1_000_000 + count).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.result.sent += 1
                    self.result.statuses[status] += 1
                    if status != 200:
                        self.result.failures.append((time.monotonic(), status))

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)


@contextlib.contextmanager
def steady_load(
    url: str, *, clients: int, request: Callable[[httpx.Client, int], httpx.Response]
) -> Iterator[SteadyLoad]:
    with SteadyLoad(url, clients=clients, request=request) as load:
        yield load
