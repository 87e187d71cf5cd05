"""Ray Serve and MLServer for ``multi_model.py``: started from their own environments.

Both run each version's ``model.onnx`` with ONNX Runtime and count their loads in a file their
loader appends to. MLServer has no bound on the models it holds nor an LRU of its own (it loads
and unloads only when told to through its repository API), so ``MLServerLru`` is the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from anchors.environment import anchor_python
from anchors.multi_model_systems import Connection, Connections, post
from multi_model import VERSION
from serving_throughput import free_port, process

HERE = Path(__file__).resolve().parent
RAY_REQUIREMENTS = ["ray[serve]==2.60.0", "onnxruntime", "numpy"]
MLSERVER_REQUIREMENTS = ["mlserver==1.7.1", "onnxruntime", "numpy"]


# ---- Ray Serve ----------------------------------------------------------------------------------


class RayServe:
    """A Serve deployment of REPLICAS replicas with ``serve.multiplexed`` (ray_multiplexed.py)."""

    name = "ray"

    def __init__(self, root: Path, workdir: Path, replicas: int, per_replica: int) -> None:
        self.root, self.workdir = root, workdir
        self.replicas, self.per_replica = replicas, per_replica
        self.loads_file = workdir / "ray-loads.txt"
        self.port = free_port("127.0.0.1")
        self.replica_pids: list[int] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[RayServe]:
        python = anchor_python("ray-serve", RAY_REQUIREMENTS)
        self.loads_file.touch()
        argv = [str(python), str(HERE / "ray_multiplexed.py"), str(self.root), str(self.port)]
        argv += [str(self.replicas), str(self.per_replica), str(self.loads_file)]
        argv += [str(self.workdir / "ray")]
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"Ray Serve exited with {proc.wait()} before it was ready")
            self.replica_pids = json.loads(line)["replica_pids"]
            yield self
        finally:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session of the process started here

    def pids(self) -> list[int]:
        return self.replica_pids

    def loads(self) -> int:
        return len(self.loads_file.read_text().splitlines())

    async def request(self, conns: Connections, model: str, body: bytes) -> int:
        headers = {"serve_multiplexed_model_id": model}
        return await post(conns, ("127.0.0.1", self.port), "/", body, headers)


# ---- MLServer -----------------------------------------------------------------------------------


@dataclass
class MLServerLru:
    """One MLServer replica's models in memory, least recently used first, bounded by the
    client (MLServer has no bound of its own)."""

    port: int
    capacity: int
    loaded: OrderedDict[str, int] = field(default_factory=OrderedDict)  # model -> in flight
    lock: asyncio.Lock | None = None
    manager: Connection | None = None
    loop: asyncio.AbstractEventLoop | None = None

    async def acquire(self, model: str) -> None:
        if self.loop is not asyncio.get_running_loop():  # each phase runs a loop of its own
            self.loop = asyncio.get_running_loop()
            self.lock = asyncio.Lock()
            self.manager = Connection("127.0.0.1", self.port)
        assert self.manager is not None
        async with self.lock:
            if model not in self.loaded:
                idle = [m for m, busy in self.loaded.items() if not busy]
                if len(self.loaded) >= self.capacity and idle:
                    status = await self.manager.post(
                        f"/v2/repository/models/{idle[0]}/unload", b"{}", {}
                    )
                    del self.loaded[idle[0]]
                    if status != 200:
                        raise RuntimeError(f"unloading {idle[0]}: HTTP {status}")
                status = await self.manager.post(f"/v2/repository/models/{model}/load", b"{}", {})
                if status != 200:
                    raise RuntimeError(f"loading {model}: HTTP {status}")
                self.loaded[model] = 0
            self.loaded.move_to_end(model)
            self.loaded[model] += 1

    def release(self, model: str) -> None:
        if model in self.loaded:
            self.loaded[model] -= 1


class MLServer:
    """REPLICAS ``mlserver start`` processes over one repository of ``model-settings.json``
    (anchors/mlserver_onnx.py runs each model.onnx); models load only through the repository API."""

    name = "mlserver"

    def __init__(self, root: Path, names: list[str], workdir: Path, replicas: int, k: int) -> None:
        self.root, self.names, self.workdir = root, names, workdir
        self.loads_file = workdir / "mlserver-loads.txt"
        self.repository = workdir / "mlserver-models"
        self.ports = [free_port("127.0.0.1") for _ in range(replicas)]
        self.replicas = [MLServerLru(port, k) for port in self.ports]
        self.procs: list[int] = []

    def _write_repository(self) -> None:
        for name in self.names:
            folder = self.repository / name
            folder.mkdir(parents=True, exist_ok=True)
            settings = {
                "name": name,
                "implementation": "mlserver_onnx.OnnxModel",
                "parameters": {"uri": str(self.root / name / VERSION / "model.onnx")},
            }
            (folder / "model-settings.json").write_text(json.dumps(settings))

    @contextlib.contextmanager
    def running(self) -> Iterator[MLServer]:
        python = anchor_python("mlserver", MLSERVER_REQUIREMENTS)
        self._write_repository()
        self.loads_file.touch()
        with contextlib.ExitStack() as stack:
            for port in self.ports:
                env = {
                    "PYTHONPATH": str(HERE),
                    "MULTI_MODEL_LOADS": str(self.loads_file),
                    "MLSERVER_HOST": "127.0.0.1",
                    "MLSERVER_HTTP_PORT": str(port),
                    "MLSERVER_GRPC_PORT": str(free_port("127.0.0.1")),
                    "MLSERVER_METRICS_PORT": str(free_port("127.0.0.1")),
                    "MLSERVER_PARALLEL_WORKERS": "0",
                    "MLSERVER_LOAD_MODELS_AT_STARTUP": "false",
                    "MLSERVER_LOGGING_LEVEL": "WARNING",
                }
                argv = [str(python.parent / "mlserver"), "start", str(self.repository)]
                proc = stack.enter_context(
                    process(argv, env, "127.0.0.1", port, "/v2/health/ready")
                )
                self.procs.append(proc.pid)
            yield self

    def pids(self) -> list[int]:
        return self.procs

    def loads(self) -> int:
        return len(self.loads_file.read_text().splitlines())

    async def request(self, conns: Connections, model: str, body: bytes) -> int:
        replica = self.replicas[zlib.crc32(model.encode()) % len(self.replicas)]
        await replica.acquire(model)
        try:
            path = f"/v2/models/{model}/infer"
            return await post(conns, ("127.0.0.1", replica.port), path, body, {})
        finally:
            replica.release(model)
