"""What every handler needs, built once at startup: settings, the API adapter, storage."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlops_core.storage import ObjectStore, open_store
from mlops_operator.kube import Kube
from mlops_operator.search.study_cache import StudyCache
from mlops_operator.settings import OperatorSettings


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: Kube
    open_store: Callable[[str], ObjectStore] = open_store
    _locks: defaultdict[str, threading.Lock] = field(
        default_factory=lambda: defaultdict(threading.Lock)
    )
    _guard: threading.Lock = field(default_factory=threading.Lock)
    #: run uid → the version this process chose for it
    chosen: dict[str, str] = field(default_factory=dict)
    #: uids of the runs this process started (their creation-time bodies are stale)
    started: set[str] = field(default_factory=set)
    #: namespaces whose trainer ServiceAccount/Role/RoleBinding this process has applied
    provisioned: set[str] = field(default_factory=set)
    #: (namespace, model) → versions this process chose for runs (until they are visible)
    reserved: defaultdict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    #: Experiment uid → its replayed study, as the last reconcile left it
    studies: StudyCache = field(default_factory=StudyCache)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Serialise work on ``key`` (an object, or a model whose next version is chosen).

        Handlers run in worker threads; two TrainingJobs of one model must not pick the same
        next version, and a Job event and a TrainingJob event must not reconcile one
        TrainingJob at the same time. One operator replica is active (peering), so a process
        lock is enough.
        """
        with self._guard:
            lock = self._locks[key]
        with lock:
            yield
