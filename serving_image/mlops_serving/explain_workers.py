"""Explanations computed in worker processes of their own, so that predictions never wait for one.

shap's Permutation explainer spends most of its time in Python (masks, coalitions, bookkeeping
between small forward passes). On a thread of the server it would hold the interpreter lock the
event loop and the inference thread need, and the predictions' tail latency would grow with
every explanation. A worker process has its own interpreter, and it runs at a lower CPU priority
(``EXPLAIN_NICENESS``), by default under the kernel's idle policy (``EXPLAIN_IDLE_PRIORITY``,
SCHED_IDLE), so on a busy node the kernel gives the predictions the CPU first: a prediction
that wakes takes the CPU from a worker at once, where a niceness alone lets the worker finish
its time slice first. And a worker keeps to a share of one CPU (``EXPLAIN_CPU_SHARE``, split
between the workers): after each forward pass shap asks for, it sleeps as long as it must for its
CPU time to stay within that share of the wall-clock time (``cpu_pacing``). The idle policy
decides who runs when both want a CPU; the share bounds how much of a CPU the explanations take
from the node at all, which on a small node is what the predictions' tail latency feels.

The workers are the server's own: at most ``EXPLAIN_CONCURRENCY`` processes, started (spawned,
never forked from the threaded server) on the first explanation that finds none idle, and
stopped with the server. Each is connected to the server by a socket pair that the event loop
reads and writes itself: handing a task over and the answer back costs the server one send and
one receive, no thread of its own and no interpreter lock taken from the predictions. Only plain
data crosses, length-prefixed: the task is JSON (the version's location, the sha256 digest of
its manifest, the runtime and the raw records); the answer is one status byte, the number of
instances explained and the explanations' JSON, which the server puts into its answer as they
are (or a message saying what went wrong). A worker reads the version itself and verifies every
file against that digest before parsing anything, exactly as the server did when it loaded it,
and keeps the few versions it explained last.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from typing import Any, Final

import orjson

from mlops_core.artifact import ArtifactError
from mlops_core.preprocessing import PreprocessingError
from mlops_core.serving_spec import ServingRuntime
from mlops_core.storage import StorageError, open_store
from mlops_serving.cpu_pacing import CpuBudget, Pace, pause_after, start_pace, uncharged
from mlops_serving.errors import InvalidInputError, ModelUnavailableError
from mlops_serving.explaining import ModelExplainer, ProbabilityFunction
from mlops_serving.prediction_activity import PredictionActivity
from mlops_serving.runtimes import load_servable

#: versions one worker keeps ready to explain (the least recently used one is dropped)
VERSIONS_PER_WORKER: Final = 4

#: a frame on the socket: its length (4 bytes, big-endian), then as many bytes
_LENGTH: Final = struct.Struct(">I")
#: an answer's head: its status (below) and the number of instances explained
_ANSWER_HEAD: Final = struct.Struct(">BI")
EXPLAINED, INVALID, UNAVAILABLE = 0, 1, 2

#: a worker's explainers by version digest (one dictionary per worker process)
_explainers: OrderedDict[str, ModelExplainer] = OrderedDict()


@dataclass(frozen=True)
class ExplainTask:
    """One explain request, as plain data: which verified version, and the raw records."""

    uri: str
    digest: str
    runtime: ServingRuntime
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Explained:
    """A worker's answer: how many instances it explained, and their explanations as the JSON
    array the response carries."""

    count: int
    json: bytes


def _plain(value: Any) -> Any:
    """numpy values of a record (binary v2 tensors) as the Python values JSON has."""
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"{type(value).__name__} is not a record value")
    return tolist()


def encode_task(task: ExplainTask) -> bytes:
    """The task as JSON. The standard library's encoder keeps NaN and infinities, so that the
    worker's checks see the values the client sent."""
    fields = {"uri": task.uri, "digest": task.digest, "runtime": task.runtime}
    return json.dumps({**fields, "records": task.records}, default=_plain).encode()


def decode_task(raw: bytes) -> ExplainTask:
    fields = json.loads(raw)
    runtime: ServingRuntime = "torch" if fields["runtime"] == "torch" else "onnx"
    return ExplainTask(fields["uri"], fields["digest"], runtime, fields["records"])


class CpuPacer:
    """Holds this process to its CPU budget once started: ``paced(f)`` is ``f`` followed by the
    pause the budget asks for (a sleep: the process uses no CPU meanwhile). With ``activity``,
    the budget is ``budget`` while the server is predicting and ``idle`` while it is not."""

    def __init__(
        self,
        budget: CpuBudget,
        *,
        idle: CpuBudget | None = None,
        activity: PredictionActivity | None = None,
    ) -> None:
        self._busy_budget = budget
        self._idle_budget = idle if idle is not None else budget
        self._activity = activity
        self._pace: Pace | None = None

    @property
    def _budget(self) -> CpuBudget:
        if self._activity is None or self._activity.busy():
            return self._busy_budget
        return self._idle_budget

    def start(self) -> None:
        """Charge from now on (before, nothing is paced); the full burst is available."""
        if self._pace is None:
            self._pace = start_pace(self._budget, wall=time.monotonic(), cpu=time.process_time())

    def pause(self) -> None:
        """Sleep as long as the CPU used since the last pause asks."""
        if self._pace is None:
            return
        now, cpu = time.monotonic(), time.process_time()
        self._pace, seconds = pause_after(self._budget, self._pace, wall=now, cpu=cpu)
        if seconds > 0:
            time.sleep(seconds)

    def forgive(self) -> None:
        """The CPU used since the last pause is not charged (reading and verifying a version)."""
        if self._pace is not None:
            self._pace = uncharged(self._pace, wall=time.monotonic(), cpu=time.process_time())

    def paced(self, function: ProbabilityFunction) -> ProbabilityFunction:
        def run(rows: Any) -> Any:
            answer = function(rows)
            self.pause()
            return answer

        return run


def _explainer_for(task: ExplainTask, pacer: CpuPacer) -> ModelExplainer:
    explainer = _explainers.get(task.digest)
    if explainer is None:
        artifact = load_servable(
            open_store(task.uri), requested=task.runtime, threads=1, expected_digest=task.digest
        )
        explainer = ModelExplainer(
            preprocessor=artifact.preprocessor,
            reference=artifact.reference,
            architecture=artifact.config.architecture,
            class_labels=artifact.class_labels,
            probabilities=pacer.paced(artifact.network.probabilities),
        )
        pacer.forgive()
        _explainers[task.digest] = explainer
        while len(_explainers) > VERSIONS_PER_WORKER:
            _explainers.popitem(last=False)
    _explainers.move_to_end(task.digest)
    return explainer


def answer_task(task: ExplainTask, pacer: CpuPacer) -> bytes:
    """Run in a worker: the answer's head and body. The body is the explanations' JSON, or the
    reason the version cannot be read and verified (UNAVAILABLE), or why the records do not fit
    (INVALID)."""
    try:
        explainer = _explainer_for(task, pacer)
    except (ArtifactError, StorageError) as exc:
        return _ANSWER_HEAD.pack(UNAVAILABLE, 0) + str(exc).encode()
    try:
        explained = [e.to_wire() for e in explainer.explain(task.records)]
    except (PreprocessingError, ValueError, TypeError, IndexError, KeyError) as exc:
        return _ANSWER_HEAD.pack(INVALID, 0) + f"{type(exc).__name__}: {exc}".encode()
    return _ANSWER_HEAD.pack(EXPLAINED, len(explained)) + orjson.dumps(explained)


def _receive_blocking(sock: socket.socket) -> bytes | None:
    """The next frame, or None when the server closed its end."""
    head = _read_blocking(sock, _LENGTH.size)
    if head is None:
        return None
    return _read_blocking(sock, _LENGTH.unpack(head)[0])


def _read_blocking(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view, seen = memoryview(buffer), 0
    while seen < size:
        got = sock.recv_into(view[seen:])
        if got == 0:
            return None
        seen += got
    return bytes(buffer)


def lower_priority(niceness: int, idle: bool) -> None:
    """This process's CPU priority below the server's: ``niceness`` steps, and the idle
    scheduling policy when ``idle`` (Linux; a system without it keeps the niceness)."""
    if niceness > 0:
        os.nice(niceness)
    if idle and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


@dataclass(frozen=True)
class WorkerShares:
    """A worker's part of one CPU while the server predicts (``busy``) and while it does not
    (``idle``), and where the server notes its predictions (None: always ``busy``)."""

    busy: float
    idle: float
    activity: PredictionActivity | None = None


def serve_tasks(sock: socket.socket, niceness: int, idle: bool, shares: WorkerShares) -> None:
    """A worker's life: lower CPU priority than the server's, then one answer per task until
    the server closes its end of the socket, within its shares of one CPU from the second
    task on. The first one is not paced: it imports shap and compiles its numba functions,
    seconds of CPU that are the worker's start, not an explanation's cost (paced, they would
    hold the first answer for minutes)."""
    lower_priority(niceness, idle)
    pacer = CpuPacer(
        CpuBudget(share=shares.busy), idle=CpuBudget(share=shares.idle), activity=shares.activity
    )
    with sock:
        while (raw := _receive_blocking(sock)) is not None:
            answer = answer_task(decode_task(raw), pacer)
            pacer.start()
            sock.sendall(_LENGTH.pack(len(answer)) + answer)


class _Worker:
    """One worker process and the server's end of its socket (non-blocking, for the loop)."""

    def __init__(self, niceness: int, idle: bool, shares: WorkerShares) -> None:
        ours, theirs = socket.socketpair()
        self.process: BaseProcess = get_context("spawn").Process(
            target=serve_tasks,
            args=(theirs, niceness, idle, shares),
            daemon=True,
            name="explain-worker",
        )
        self.process.start()
        theirs.close()
        ours.setblocking(False)
        self.sock = ours

    async def ask(self, task: bytes) -> bytes | None:
        """The answer to ``task``, or None when the worker is gone."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, _LENGTH.pack(len(task)) + task)
        head = await self._read(loop, _LENGTH.size)
        return None if head is None else await self._read(loop, _LENGTH.unpack(head)[0])

    async def _read(self, loop: asyncio.AbstractEventLoop, size: int) -> bytes | None:
        buffer = bytearray(size)
        view, seen = memoryview(buffer), 0
        while seen < size:
            got = await loop.sock_recv_into(self.sock, view[seen:])
            if got == 0:
                return None
            seen += got
        return bytes(buffer)

    def stop(self, timeout: float) -> None:
        """Closing the socket ends the worker's loop; one that does not end in time is killed."""
        self.sock.close()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class ExplainWorkers:
    """The server's explanation processes (started when needed). At most ``processes``
    explanations are asked at once: the caller bounds them (``EXPLAIN_CONCURRENCY``). Together
    they use at most ``cpu_share`` of one CPU, each ``cpu_share / processes``, while the server
    predicts (a prediction began within ``BUSY_WINDOW_S`` by ``activity``; always, without
    one), and ``idle_cpu_share`` (default: ``cpu_share``) while it does not."""

    def __init__(
        self,
        *,
        processes: int,
        niceness: int,
        cpu_share: float,
        idle_cpu_share: float | None = None,
        activity: PredictionActivity | None = None,
        idle_priority: bool = True,
    ) -> None:
        idle_share = cpu_share if idle_cpu_share is None else idle_cpu_share
        for name, share in (("CPU share", cpu_share), ("idle CPU share", idle_share)):
            if not share > 0:
                raise ValueError(f"the explanation workers' {name} must be above 0: {share}")
        self._processes = processes
        self._niceness = niceness
        self._idle_priority = idle_priority
        self._shares = WorkerShares(
            busy=cpu_share / processes, idle=idle_share / processes, activity=activity
        )
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()

    @property
    def started(self) -> bool:
        return bool(self._idle or self._busy)

    def _take(self) -> _Worker:
        if self._idle:
            return self._idle.pop()
        if len(self._busy) >= self._processes:
            raise RuntimeError(f"more than {self._processes} explanations asked at once")
        return _Worker(self._niceness, self._idle_priority, self._shares)

    async def explain(
        self,
        *,
        model: str,
        uri: str,
        digest: str,
        runtime: str,
        records: Sequence[Mapping[str, Any]],
    ) -> Explained:
        """The explanations, in the runtime that serves the version; InvalidInputError when the
        records do not fit the model, ModelUnavailableError when a worker cannot read the
        version or died."""
        requested: ServingRuntime = "torch" if runtime == "torch" else "onnx"
        task = encode_task(ExplainTask(uri, digest, requested, [dict(r) for r in records]))
        worker = self._take()
        self._busy.add(worker)
        answer = None
        try:
            answer = await worker.ask(task)
        except OSError:  # its end of the socket is closed: it died
            pass
        finally:
            self._busy.discard(worker)
            if answer is None:  # gone, or the request was cancelled while its answer was due
                worker.stop(timeout=0)
            else:
                self._idle.append(worker)
        if answer is None:
            raise ModelUnavailableError(
                f"an explanation worker stopped while explaining {model}: retry the request"
            )
        status, count = _ANSWER_HEAD.unpack_from(answer)
        body = answer[_ANSWER_HEAD.size :]
        if status == INVALID:
            raise InvalidInputError(f"input does not fit model {model}: {body.decode()}")
        if status == UNAVAILABLE:
            raise ModelUnavailableError(f"cannot explain {model}: {body.decode()}")
        return Explained(count=count, json=body)

    def close(self) -> None:
        for worker in [*self._idle, *self._busy]:
            worker.stop(timeout=10)
        self._idle.clear()
        self._busy.clear()
