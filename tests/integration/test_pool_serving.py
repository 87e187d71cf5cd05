"""A serving pool as real processes on loopback: three model servers following the pool's
placement, and a pool router in front that routes each Deployment by its Host.

The servers preload what placement gives them and stay within their byte budget; the router
sends each Deployment's requests to the servers placed to hold the chosen version, falls back to
any other server (which loads it on demand) and keeps answering when a server is SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from test_serving_models import ServerProcess, free_port, run_process, train_tabular
from test_serving_server import RECORD

from mlops_core.artifact import MANIFEST_FILE, digest_of, parse_manifest
from mlops_core.routing import PoolRoute, RouterConfig
from mlops_core.storage import join_uri, open_store
from mlops_operator.placement.decide import ServerSlot, VersionDemand, place
from mlops_operator.placement.router_config import pool_router_config
from mlops_serving.errors import ModelUnavailableError
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.pool_assignment import PoolAssignment
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.integration

MODELS = [f"m{i}" for i in range(6)]
SERVERS = {
    "shared-server-0": "127.0.0.31",
    "shared-server-1": "127.0.0.32",
    "shared-server-2": "127.0.0.33",
}
#: each server's model memory: room for three of the tiny models, so the pool holds 9 of 14 copies
FIT = 3


def digest(root: Path, model: str, version: str) -> str:
    return digest_of((root / model / version / MANIFEST_FILE).read_bytes())


def footprint(root: Path, model: str, version: str) -> int:
    manifest = parse_manifest((root / model / version / MANIFEST_FILE).read_bytes())
    return sum(entry.size for entry in manifest.files)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pool-models")
    for seed, model in enumerate(MODELS):
        store = open_store(join_uri(str(root), model, "1.0.0"))
        train_tabular(store, model=model, version="1.0.0", seed=seed, epochs=3, hidden=(8,))
    train_tabular(
        open_store(join_uri(str(root), "m0", "1.1.0")),
        model="m0",
        version="1.1.0",
        seed=9,
        epochs=3,
        hidden=(8,),
    )
    return root


def routes() -> list[PoolRoute]:
    def split(model: str, *weights: tuple[str, int]) -> RouterConfig:
        backends = [{"version": v, "weight": w, "service": "shared-server"} for v, w in weights]
        return RouterConfig.model_validate({"model": model, "backends": backends})

    out = [PoolRoute(deployment="canaried", routing=split("m0", ("1.0.0", 70), ("1.1.0", 30)))]
    out += [PoolRoute(deployment=f"d-{m}", routing=split(m, ("1.0.0", 100))) for m in MODELS[1:]]
    return out


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class Pool:
    def __init__(self, root: Path, workdir: Path, budget: int, overhead: int) -> None:
        self.root = root
        self.workdir = workdir
        self.budget = budget
        self.overhead = overhead
        self.config = workdir / "pool.json"
        self.servers: dict[str, ServerProcess] = {}
        self.router: ServerProcess | None = None

    def place(
        self, ports: dict[str, int], *, ready: set[str]
    ) -> dict[tuple[str, str], tuple[str, ...]]:
        slots = [ServerSlot(name=n, ready=n in ready, budget_bytes=self.budget) for n in SERVERS]
        keys = sorted({(r.routing.model, b.version) for r in routes() for b in r.routing.backends})
        demands = [
            VersionDemand(key=k, size_bytes=footprint(self.root, *k) + self.overhead, copies=2)
            for k in keys
        ]
        placement = place(slots, demands)
        config = pool_router_config(
            pool="shared",
            placement=placement,
            routes=routes(),
            server_endpoints={n: f"{SERVERS[n]}:{ports[n]}" for n in SERVERS},
            digests={k: digest(self.root, *k) for k in keys},
        )
        write_atomically(self.config, json.dumps(config.to_wire()))
        return placement.servers_of


@pytest.fixture(scope="module")
def pool(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    workdir = tmp_path_factory.mktemp("pool")
    size = footprint(repository, "m1", "1.0.0")
    overhead = size // 4
    running = Pool(
        repository, workdir, budget=FIT * (size + overhead) + size // 2, overhead=overhead
    )
    ports = {n: free_port(host) for n, host in SERVERS.items()}
    running.place(ports, ready=set(SERVERS))
    with contextlib.ExitStack() as stack:
        for name, host in SERVERS.items():
            settings = {
                "MODEL_REPOSITORY_URI": str(repository),
                "MAX_LATENCY_MS": "2",
                "MODEL_MEMORY_BUDGET_BYTES": str(running.budget),
                "MODEL_OVERHEAD_BYTES": str(overhead),
                "MAX_MODELS_IN_MEMORY": "64",
                "POOL_CONFIG_FILE": str(running.config),
                "POOL_SERVER_NAME": name,
            }
            running.servers[name] = stack.enter_context(
                run_process(
                    "serve",
                    host=host,
                    port=ports[name],
                    env=settings,
                    log_dir=workdir,
                    ready_path="/v2/health/ready",
                )
            )
        env = {
            "ROUTER_CONFIG_FILE": str(running.config),
            "ROUTER_CONFIG_POLL_SECONDS": "0.2",
            "ROUTER_POOL": "true",
        }
        running.router = stack.enter_context(
            run_process("route", host="127.0.0.34", env=env, log_dir=workdir, ready_path="/readyz")
        )
        yield running


def loaded_on(server: ServerProcess) -> set[tuple[str, str]]:
    listing = httpx.get(server.url + "/mlops/models", timeout=10).json()
    return {(m["name"], v) for m in listing["models"] for v in m["loaded"]}


def memory_on(server: ServerProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ml_model_memory_usage_bytes{")
    )


def predict(client: httpx.Client, deployment: str) -> httpx.Response:
    model = "m0" if deployment == "canaried" else deployment.removeprefix("d-")
    return client.post(
        f"/v1/models/{model}:predict",
        json={"instances": [RECORD]},
        headers={"host": f"{deployment}.team.svc"},
    )


def wait_for(condition: object, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s")


DEPLOYMENTS = ["canaried", *(f"d-{m}" for m in MODELS[1:])]


def test_servers_preload_their_placement_within_the_budget(pool: Pool) -> None:
    placed = pool.place({n: s.port for n, s in pool.servers.items()}, ready=set(SERVERS))
    for name, server in pool.servers.items():
        mine = {key for key, names in placed.items() if name in names}
        # what fits is preloaded without a request; nothing beyond the budget
        wait_for(
            lambda server=server, mine=mine: len(loaded_on(server) & mine) >= min(len(mine), FIT)
        )
        assert loaded_on(server) <= mine
        assert memory_on(server) <= pool.budget


def test_each_deployment_answers_through_its_host_with_its_own_model(pool: Pool) -> None:
    assert pool.router is not None
    with httpx.Client(base_url=pool.router.url, timeout=30) as client:
        seen: Counter[tuple[str, str]] = Counter()
        for _ in range(4):
            for deployment in DEPLOYMENTS:
                answer = predict(client, deployment)
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert answer.headers["x-mlops-version"] == body["version"]
                seen[(deployment, body["model"])] += 1
        for _ in range(60):
            answer = predict(client, "canaried")
            seen[("canaried", answer.json()["version"])] += 1
        unknown = client.post(
            "/v1/models/m1:predict",
            json={"instances": [RECORD]},
            headers={"host": "nobody.team.svc"},
        )
        metrics = client.get("/metrics").text
    assert {d for d, _ in seen} == set(DEPLOYMENTS)
    for deployment in DEPLOYMENTS[1:]:
        assert seen[(deployment, deployment.removeprefix("d-"))] == 4
    assert seen[("canaried", "1.0.0")] > 20
    assert seen[("canaried", "1.1.0")] > 5  # the 70/30 split reached both versions
    # an unknown Host falls back to the first route serving the model in the path
    assert unknown.status_code == 200
    assert re.search(
        r'mlops_pool_router_requests_total\{code="200",deployment="d-m3",version="1.0.0"\} ',
        metrics,
    )
    for server in pool.servers.values():
        assert memory_on(server) <= pool.budget


def test_a_pool_server_refuses_a_version_whose_digest_is_not_the_placed_one(
    repository: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        config = tmp_path / "pool.json"
        placed = [
            {
                "model": "m1",
                "version": "1.0.0",
                "servers": ["s"],
                "digest": digest(repository, "m1", "1.0.0"),
            },
            {"model": "m2", "version": "1.0.0", "servers": ["s"], "digest": "sha256:" + "0" * 64},
        ]
        write_atomically(config, json.dumps({"pool": "shared", "placements": placed}))
        settings = ServerSettings(model_repository_uri=str(repository), max_models_in_memory=8)
        with ThreadPoolExecutor(max_workers=1) as executor:
            repo = ModelRepository(settings, executor=executor, metrics=ServerMetrics())
            assignment = PoolAssignment(repo, config_file=str(config), server="s")
            follower = asyncio.create_task(assignment.follow(period=0.05))
            for _ in range(100):
                if repo.is_loaded("m1", "1.0.0"):
                    break
                await asyncio.sleep(0.05)
            assert repo.is_loaded("m1", "1.0.0")  # preloaded: it was placed here
            assert not repo.is_loaded("m2", "1.0.0")
            with pytest.raises(ModelUnavailableError, match="digest"):
                await repo.get("m2", "1.0.0")
            follower.cancel()
            await repo.close()

    asyncio.run(scenario())


def test_a_server_sigkilled_under_load_costs_no_request(pool: Pool) -> None:
    assert pool.router is not None
    failures: list[int] = []
    sent = Counter[str]()
    stop = threading.Event()

    def load(deployments: list[str]) -> None:
        with httpx.Client(base_url=pool.router.url, timeout=30) as client:  # type: ignore[union-attr]
            while not stop.is_set():
                for deployment in deployments:
                    status = predict(client, deployment).status_code
                    sent[deployment] += 1
                    if status != 200:
                        failures.append(status)

    threads = [threading.Thread(target=load, args=(DEPLOYMENTS[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: sum(sent.values()) >= 20)
    victim = pool.servers["shared-server-1"]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    killed, sent_by_then = time.monotonic(), sum(sent.values())
    # four seconds of load after the kill, and every model asked several times in them
    wait_for(lambda: time.monotonic() > killed + 4 and sum(sent.values()) >= sent_by_then + 40)
    stop.set()
    for thread in threads:
        thread.join(timeout=40)
    assert failures == []
