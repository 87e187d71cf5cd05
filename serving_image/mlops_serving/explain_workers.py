"""Explanations computed in worker processes of their own, so that predictions never wait for one.

shap's Permutation explainer spends most of its time in Python (masks, coalitions, bookkeeping
between small forward passes). On a thread of the server it would hold the interpreter lock the
event loop and the inference thread need, and the predictions' tail latency would grow with
every explanation. A worker process has its own interpreter, and it runs at a lower CPU priority
(``EXPLAIN_NICENESS``), so on a busy node the kernel gives the predictions the CPU first.

The pool is the server's own: at most ``EXPLAIN_CONCURRENCY`` processes, started (spawned, never
forked from the threaded server) on the first explanation, and stopped with the server. Only
plain data crosses between the processes: the task is the version's location, the sha256 digest
of its manifest, the runtime and the raw records; the answer is the explanations' wire form (or a
message saying what went wrong). A worker reads the version itself and verifies every file
against that digest before parsing anything, exactly as the server did when it loaded it, and
keeps the few versions it explained last.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Final

from mlops_core.artifact import ArtifactError
from mlops_core.preprocessing import PreprocessingError
from mlops_core.serving_spec import ServingRuntime
from mlops_core.storage import StorageError, open_store
from mlops_serving.errors import InvalidInputError, ModelUnavailableError
from mlops_serving.explaining import ModelExplainer
from mlops_serving.runtimes import load_servable

#: versions one worker keeps ready to explain (the least recently used one is dropped)
VERSIONS_PER_WORKER: Final = 4

#: a worker's explainers by version digest (one dictionary per worker process)
_explainers: OrderedDict[str, ModelExplainer] = OrderedDict()


@dataclass(frozen=True)
class ExplainTask:
    """One explain request, as plain data: which verified version, and the raw records."""

    uri: str
    digest: str
    runtime: ServingRuntime
    records: list[dict[str, Any]]


def _start_worker(niceness: int) -> None:
    """A new worker: lower CPU priority than the server's."""
    if niceness > 0:
        os.nice(niceness)


def _explainer_for(task: ExplainTask) -> ModelExplainer:
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
            probabilities=artifact.network.probabilities,
        )
        _explainers[task.digest] = explainer
        while len(_explainers) > VERSIONS_PER_WORKER:
            _explainers.popitem(last=False)
    _explainers.move_to_end(task.digest)
    return explainer


def explain_task(
    uri: str, digest: str, runtime: ServingRuntime, records: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run in a worker: ``{"explanations": [...]}``, or ``{"unavailable": why}`` when the
    version cannot be read and verified, or ``{"invalid": why}`` when the records do not fit."""
    task = ExplainTask(uri, digest, runtime, records)
    try:
        explainer = _explainer_for(task)
    except (ArtifactError, StorageError) as exc:
        return {"unavailable": str(exc)}
    try:
        return {"explanations": [e.to_wire() for e in explainer.explain(task.records)]}
    except (PreprocessingError, ValueError, TypeError, IndexError, KeyError) as exc:
        return {"invalid": f"{type(exc).__name__}: {exc}"}


class ExplainWorkers:
    """The server's pool of explanation processes (created on first use)."""

    def __init__(self, *, processes: int, niceness: int) -> None:
        self._processes = processes
        self._niceness = niceness
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._processes,
                mp_context=get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._niceness,),
            )
        return self._pool

    async def explain(
        self,
        *,
        model: str,
        uri: str,
        digest: str,
        runtime: str,
        records: Sequence[Mapping[str, Any]],
    ) -> list[dict[str, Any]]:
        """The explanations' wire form, in the runtime that serves the version; InvalidInputError
        when the records do not fit the model, ModelUnavailableError when a worker cannot read
        the version or died."""
        requested: ServingRuntime = "torch" if runtime == "torch" else "onnx"
        pool = self._started_pool()
        plain = [dict(r) for r in records]
        try:
            answer = await asyncio.wrap_future(
                pool.submit(explain_task, uri, digest, requested, plain)
            )
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the next explanation starts a new pool
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ModelUnavailableError(
                f"an explanation worker stopped while explaining {model}: retry the request"
            ) from exc
        if "invalid" in answer:
            raise InvalidInputError(f"input does not fit model {model}: {answer['invalid']}")
        if "unavailable" in answer:
            raise ModelUnavailableError(f"cannot explain {model}: {answer['unavailable']}")
        explanations: list[dict[str, Any]] = answer["explanations"]
        return explanations

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
