"""The three systems of ``multi_model.py`` as processes on loopback, and the load that drives them.

Each system answers ``request(connections, model, body)`` (an HTTP status), counts its loads
(``loads()``) and names the processes of its replicas (``pids()``, whose RSS is sampled). The
pool's loads are its servers' ``ml_model_load_seconds`` counts; the anchors' are the lines their
loaders append to a file. MLServer's least-recently-used bound is the client's (``MLServerLru``):
MLServer itself loads and unloads only when told to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import psutil

from multi_model import (
    CONCURRENCY,
    VERSION,
    Phase,
    Repeat,
    files_bytes,
    infer_body,
    repeat_figures,
    zipf_trace,
)
from serving_throughput import free_port, process

if TYPE_CHECKING:
    from mlops_operator.placement.decide import Placement

POOL_ROUTER_HOST = "127.0.0.40"
SERVICE = {"service": "pool-server"}


# ---- HTTP/1.1 keep-alive ----------------------------------------------------------------------


class Connection:
    """One keep-alive connection; reopened after an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.pair: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status; a kept-alive connection the server closed while it was idle
        (reset, or no byte of an answer came back) is reopened and the request sent once more."""
        reused = self.pair is not None
        try:
            return await self._post(path, body, dict(headers))
        except asyncio.IncompleteReadError as exc:
            if not reused or exc.partial:
                raise
        except (ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        return await self._post(path, body, headers)

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.pair is None:
            self.pair = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.pair
        head = f"POST {path} HTTP/1.1\r\nHost: {headers.pop('host', self.host)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        try:
            writer.write(head.encode() + body)
            status_line = await reader.readuntil(b"\r\n\r\n")
            lines = status_line.decode("latin-1").split("\r\n")
            length, chunked = 0, False
            for line in lines[1:]:
                key, _, value = line.partition(":")
                if key.lower() == "content-length":
                    length = int(value)
                elif key.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
            if chunked:
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            else:
                await reader.readexactly(length)
            return int(lines[0].split(" ", 2)[1])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            self.pair = None
            raise


Connections = dict[tuple[str, int], Connection]


async def post(
    conns: Connections, address: tuple[str, int], path: str, body: bytes, headers: dict[str, str]
) -> int:
    conn = conns.setdefault(address, Connection(*address))
    return await conn.post(path, body, dict(headers))


class System(Protocol):
    name: str

    def pids(self) -> list[int]: ...

    def loads(self) -> int: ...

    async def request(self, conns: Connections, model: str, body: bytes) -> int: ...


async def _drive(system: System, models: list[str], bodies: list[bytes]) -> Phase:
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(range(len(models)))

    async def worker() -> None:
        conns: Connections = {}
        for i in queue:
            started = time.perf_counter()
            try:
                status = await system.request(conns, models[i], bodies[i % len(bodies)])
                if status != 200:
                    failures.append(f"{models[i]}: HTTP {status}")
            except Exception as exc:  # a failed request is a figure, not the end of the run
                failures.append(f"{models[i]}: {type(exc).__name__}: {exc}")
            latencies.append(1000 * (time.perf_counter() - started))
        for conn in conns.values():
            if conn.pair is not None:
                conn.pair[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return Phase(latencies, len(failures), time.perf_counter() - started, failures=failures[:5])


def run_phase(system: System, models: list[str], bodies: list[bytes]) -> Phase:
    before = system.loads()
    phase = asyncio.run(_drive(system, models, bodies))
    phase.loads = system.loads() - before
    return phase


class RssPeaks:
    """Samples the RSS of the given processes every 50 ms in a thread; the peak per process."""

    def __init__(self, pids: list[int]) -> None:
        self.peaks = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid in self.peaks:
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(pid).memory_info().rss
                    self.peaks[pid] = max(self.peaks[pid], rss)
            self._stop.wait(0.05)

    def __enter__(self) -> RssPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rss(pids: list[int]) -> list[int]:
    return [psutil.Process(p).memory_info().rss for p in pids]


def wait_settled(system: System, timeout: float = 300.0) -> None:
    """Until the load count stops growing for 2 s (preloads done)."""
    deadline = time.monotonic() + timeout
    last, since = system.loads(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 2.0:
        time.sleep(0.5)
        now = system.loads()
        if now != last:
            last, since = now, time.monotonic()


# ---- this project's pool ----------------------------------------------------------------------


def pool_servers(replicas: int) -> dict[str, str]:
    """The pool's server names and their loopback hosts."""
    return {f"pool-server-{i}": f"127.0.0.{41 + i}" for i in range(replicas)}


def pool_placement(
    root: Path, names: list[str], servers: list[str], budget: int, overhead: int
) -> Placement:
    """One copy of each version, placed by the operator's own rule on servers of ``budget``."""
    from mlops_operator.placement.decide import ServerSlot, VersionDemand, place

    slots = [ServerSlot(name=n, ready=True, budget_bytes=budget) for n in servers]
    demands = [
        VersionDemand(key=(n, VERSION), size_bytes=files_bytes(root, n) + overhead, copies=1)
        for n in names
    ]
    return place(slots, demands)


class Pool:
    """REPLICAS pool servers with the byte budget and a pool router; one copy per version."""

    name = "pool"

    def __init__(self, root: Path, names: list[str], workdir: Path, replicas: int) -> None:
        self.root, self.names, self.workdir = root, names, workdir
        self.servers = pool_servers(replicas)
        self.ports = {n: free_port(h) for n, h in self.servers.items()}
        self.config = workdir / "pool.json"
        self.router_port = free_port(POOL_ROUTER_HOST)
        self.server_pids: dict[str, int] = {}

    def write_config(self, budget: int, overhead: int, *, placed: bool) -> None:
        from mlops_core.artifact import MANIFEST_FILE, digest_of
        from mlops_core.routing import PoolRoute, RouterConfig
        from mlops_operator.placement.router_config import pool_router_config

        routes = [
            PoolRoute(
                deployment=n,
                routing=RouterConfig.model_validate(
                    {
                        "model": n,
                        "backends": [{"version": VERSION, "weight": 100, "service": "pool-server"}],
                    }
                ),
            )
            for n in self.names
        ]
        config = pool_router_config(
            pool="bench",
            placement=pool_placement(
                self.root, self.names if placed else [], list(self.servers), budget, overhead
            ),
            routes=routes,
            server_endpoints={n: f"{h}:{self.ports[n]}" for n, h in self.servers.items()},
            digests={
                (n, VERSION): digest_of((self.root / n / VERSION / MANIFEST_FILE).read_bytes())
                for n in (self.names if placed else [])
            },
        )
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps(config.to_wire()))
        tmp.replace(self.config)

    @contextlib.contextmanager
    def running(self, budget: int, overhead: int, per_replica: int) -> Iterator[Pool]:
        self.write_config(budget, overhead, placed=False)
        server_env = {
            "MODEL_REPOSITORY_URI": str(self.root),
            "MODEL_MEMORY_BUDGET_BYTES": str(budget),
            "MODEL_OVERHEAD_BYTES": str(overhead),
            "MAX_MODELS_IN_MEMORY": str(per_replica),
            "POOL_CONFIG_FILE": str(self.config),
            "TORCH_NUM_THREADS": "1",
        }
        with contextlib.ExitStack() as stack:
            for name, host in self.servers.items():
                argv = [sys.executable, "-m", "mlops_serving", "serve", "--host", host]
                argv += ["--port", str(self.ports[name]), "--log-level", "warning"]
                env = {**server_env, "POOL_SERVER_NAME": name}
                proc = stack.enter_context(
                    process(argv, env, host, self.ports[name], "/v2/health/ready")
                )
                self.server_pids[name] = proc.pid
            argv = [sys.executable, "-m", "mlops_serving", "route", "--host", POOL_ROUTER_HOST]
            argv += ["--port", str(self.router_port), "--log-level", "warning"]
            env = {
                "ROUTER_CONFIG_FILE": str(self.config),
                "ROUTER_CONFIG_POLL_SECONDS": "0.2",
                "ROUTER_POOL": "true",
            }
            stack.enter_context(process(argv, env, POOL_ROUTER_HOST, self.router_port, "/readyz"))
            yield self

    def pids(self) -> list[int]:
        return list(self.server_pids.values())

    def runtime_baseline(self) -> list[int]:
        """Each server's RSS once one version has loaded there (its runtime's libraries are
        imported on the first load): the runtime's own baseline."""
        body = infer_body(0)
        for index, (name, host) in enumerate(self.servers.items()):
            url = f"http://{host}:{self.ports[name]}/v2/models/{self.names[index]}/infer"
            httpx.post(url, content=body, timeout=60).raise_for_status()
        return rss(self.pids())

    def _metric_sum(self, prefix: str) -> float:
        total = 0.0
        for name, host in self.servers.items():
            text = httpx.get(f"http://{host}:{self.ports[name]}/metrics", timeout=60).text
            for line in text.splitlines():
                if line.startswith(prefix):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def loads(self) -> int:
        return int(self._metric_sum("ml_model_load_seconds_count{"))

    def loaded_bytes(self, overhead: int) -> tuple[int, int]:
        """Versions in memory on all servers, and their files' bytes (what the budget counts
        for them, less the overhead it adds to each)."""
        count = int(self._metric_sum("ml_models_loaded "))
        return count, int(self._metric_sum("ml_model_memory_usage_bytes{")) - count * overhead

    async def request(self, conns: Connections, model: str, body: bytes) -> int:
        path = f"/v2/models/{model}/infer"
        return await post(conns, (POOL_ROUTER_HOST, self.router_port), path, body, {"host": model})


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    repeats: dict[str, list[Repeat]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    idle_rss_mib: dict[str, float] = field(default_factory=dict)
    rss_bytes_per_model: float = 0.0  # a pool server's RSS growth per version it loaded


def measure(system: System, names: list[str], per_replica: int, requests: int, seed: int) -> Repeat:
    """A warm phase over K/2 models (loaded first, then measured), then the Zipf trace."""
    bodies = [infer_body(i) for i in range(64)]
    ranked = zipf_trace(len(names), 1, seed)  # only to pick this repeat's warm models
    warm_set = [names[(ranked[0] + i) % len(names)] for i in range(max(1, per_replica // 2))]
    run_phase(system, warm_set, bodies)
    warm_trace = [warm_set[i % len(warm_set)] for i in range(max(500, requests // 5))]
    with RssPeaks(system.pids()) as peaks:
        warm = run_phase(system, warm_trace, bodies)
        zipf = run_phase(system, [names[i] for i in zipf_trace(len(names), requests, seed)], bodies)
    for failure in warm.failures + zipf.failures:
        print(f"{system.name}: failed: {failure}", flush=True)
    return repeat_figures(warm, zipf, max(peaks.peaks.values()))


def run_systems(
    root: Path,
    names: list[str],
    *,
    systems: list[str],
    budget: int,
    overhead: int,
    per_replica: int,
    replicas: int,
    requests: int,
    repeats: int,
    workdir: Path,
) -> Outcome:
    """Measure each system alone: start it, run every repeat, stop it before the next starts
    (an idle system's own processes, Ray's above all, would take CPU from the one measured)."""
    from anchors.multi_model_anchors import MLServer, RayServe

    outcome = Outcome()
    makers: dict[str, Any] = {
        "pool": lambda: _started_pool(
            root, names, workdir, replicas, budget, overhead, per_replica, outcome
        ),
        "ray": lambda: RayServe(root, workdir, replicas, per_replica).running(),
        "mlserver": lambda: MLServer(root, names, workdir, replicas, per_replica).running(),
    }
    for name, make in makers.items():
        if name not in systems:
            continue
        with contextlib.ExitStack() as stack:
            try:
                system = stack.enter_context(make())
            except Exception as exc:  # an anchor that cannot run is reported, not fatal
                if name == "pool":
                    raise
                outcome.unavailable[name] = f"{type(exc).__name__}: {exc}"[:300]
                print(f"{name}: unavailable: {outcome.unavailable[name]}", flush=True)
                continue
            if name != "pool":
                outcome.idle_rss_mib[name] = max(rss(system.pids())) / 2**20
            for seed in range(repeats):
                result = measure(system, names, per_replica, requests, seed)
                outcome.repeats.setdefault(system.name, []).append(result)
                print(f"repeat {seed} {system.name}: {result}", flush=True)
    return outcome


@contextlib.contextmanager
def _started_pool(
    root: Path,
    names: list[str],
    workdir: Path,
    replicas: int,
    budget: int,
    overhead: int,
    per_replica: int,
    outcome: Outcome,
) -> Iterator[Pool]:
    """The pool started, its runtime baseline taken, its placement preloaded."""
    with Pool(root, names, workdir, replicas).running(budget, overhead, per_replica) as pool:
        idle = pool.runtime_baseline()
        pool.write_config(budget, overhead, placed=True)
        wait_settled(pool)
        count, size = pool.loaded_bytes(overhead)
        grown = sum(rss(pool.pids())) - sum(idle)
        first = len(idle)  # the versions the baseline already held
        outcome.rss_bytes_per_model = grown / max(count - first, 1)
        outcome.idle_rss_mib["pool"] = max(idle) / 2**20
        print(
            f"pool: {count} versions preloaded, {outcome.rss_bytes_per_model / 1024:.0f} KiB "
            f"RSS each, {size / max(count, 1) / 1024:.0f} KiB of files each",
            flush=True,
        )
        yield pool
