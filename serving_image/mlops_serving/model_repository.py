"""Which model versions exist, which are in memory, and loading and evicting them.

A version lives at ``<MODEL_REPOSITORY_URI>/<model>/<version>/`` and counts only once its
``manifest.json`` exists. A model's default version is the one pinned in ``MODEL_VERSIONS``,
else its highest semantic version. Loading happens on first use (or at start for
``PRELOAD_MODELS``); concurrent requests for a version being loaded all wait for that one load.
Versions in memory are kept within ``MAX_MODELS_IN_MEMORY`` and the byte budget by evicting the
least recently used; an evicted version finishes the requests it already holds. With a byte
budget, a version's size (the bytes its manifest lists, plus ``MODEL_OVERHEAD_BYTES``) is known
before it loads: room is made first, so the versions in memory never add up to more than the
budget, and a version bigger than the whole budget is refused without loading. A version
listed in ``MODEL_DIGESTS`` loads only if its manifest has that digest. A failed load is
remembered for a short while and answered with 503 and its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass

from mlops_core.artifact import MANIFEST_FILE, ArtifactError, parse_manifest
from mlops_core.storage import ObjectStore, StorageError, join_uri, open_store
from mlops_serving.errors import ModelNotFoundError, ModelUnavailableError
from mlops_serving.metrics import ServerMetrics
from mlops_serving.runtimes import opens_quickly, read_servable
from mlops_serving.served_model import ServedModel, open_served_model
from mlops_serving.settings import ServerSettings
from mlops_serving.versions import highest

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
LISTING_TTL_S = 5.0
FAILURE_TTL_S = 30.0
Key = tuple[str, str]


@dataclass
class _Failure:
    reason: str
    at: float


class ModelRepository:
    """Name → versions → loaded ``ServedModel``, with LRU, byte budget and idle expiry."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        executor: Executor,
        metrics: ServerMetrics,
        store: ObjectStore | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._executor = executor
        self._store = store or open_store(settings.model_repository_uri)
        self._pinned = settings.pinned_versions()
        self._digests = settings.expected_digests()
        self._loaded: OrderedDict[Key, ServedModel] = OrderedDict()
        self._loading: dict[Key, asyncio.Task[ServedModel]] = {}
        self._failures: dict[Key, _Failure] = {}
        self._listing: dict[str, tuple[float, list[str]]] = {}
        self._defaults: dict[str, tuple[float, str]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._reserved: dict[Key, int] = {}
        self._files_bytes: dict[Key, int] = {}  # a published version's files never change
        self._loaded_bytes = 0  # the footprints of ``_loaded``, kept as versions come and go
        self.preloaded = False
        self.preload_errors: list[str] = []
        self.pinned_preloads: set[Key] = set()

    # ---- discovery -------------------------------------------------------------------------

    def _check_name(self, what: str, value: str) -> None:
        if not NAME.match(value):
            raise ModelNotFoundError(f"{what} {value!r} is not a valid name")

    def _list_versions_blocking(self, name: str) -> list[str]:
        keys = self._store.list(f"{name}/")
        suffix = "/" + MANIFEST_FILE
        return sorted(
            {
                k[len(name) + 1 : -len(suffix)]
                for k in keys
                if k.endswith(suffix) and k.count("/") == 2
            }
        )

    async def versions(self, name: str) -> list[str]:
        """Versions of ``name`` with a manifest (cached for a few seconds)."""
        self._check_name("model", name)
        cached = self._listing.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < LISTING_TTL_S:
            return cached[1]
        try:
            found = await asyncio.to_thread(self._list_versions_blocking, name)
        except StorageError as exc:
            raise ModelUnavailableError(f"cannot list versions of {name}: {exc}") from exc
        self._listing[name] = (now, found)
        return found

    async def model_names(self) -> list[str]:
        try:
            keys = await asyncio.to_thread(self._store.list, "")
        except StorageError as exc:
            raise ModelUnavailableError(f"cannot list the models: {exc}") from exc
        suffix = "/" + MANIFEST_FILE
        return sorted(
            {k.split("/", 1)[0] for k in keys if k.endswith(suffix) and k.count("/") == 2}
        )

    async def resolve(self, name: str, version: str | None) -> Key:
        """(name, version) of an existing version; the default one when ``version`` is None."""
        self._check_name("model", name)
        if version is not None:
            self._check_name("version", version)
            if (name, version) in self._loaded:
                return name, version
            if version in await self.versions(name):
                return name, version
            manifest = f"{name}/{version}/{MANIFEST_FILE}"
            try:
                published = await asyncio.to_thread(self._store.exists, manifest)
            except StorageError as exc:
                raise ModelUnavailableError(f"cannot look up {name} {version}: {exc}") from exc
            if published:
                self._listing.pop(name, None)
                return name, version
            raise ModelNotFoundError(f"model {name} has no version {version}")
        pinned = self._pinned.get(name)
        if pinned is not None:
            return name, pinned
        cached = self._defaults.get(name)
        if cached is not None and time.monotonic() - cached[0] < LISTING_TTL_S:
            return name, cached[1]
        found = await self.versions(name)
        if not found:
            raise ModelNotFoundError(
                f"model {name!r} not found in {self._store.uri}: no <model>/<version>/"
                f"{MANIFEST_FILE} there"
            )
        best = highest(found)
        default = best if best is not None else found[-1]
        self._defaults[name] = (time.monotonic(), default)
        return name, default

    def expect_digests(self, digests: dict[Key, str]) -> None:
        """Digests versions must have from now on, beside ``MODEL_DIGESTS`` (which wins)."""
        self._digests = {**digests, **self.settings.expected_digests()}

    def default_version_of_loaded(self, name: str) -> str | None:
        versions = [v for (n, v) in self._loaded if n == name]
        return self._pinned.get(name) or highest(versions)

    # ---- loading ---------------------------------------------------------------------------

    def loaded(self) -> list[ServedModel]:
        return list(self._loaded.values())

    def is_loaded(self, name: str, version: str) -> bool:
        return (name, version) in self._loaded

    async def get(self, name: str, version: str | None = None) -> ServedModel:
        """The served version, loading it first if needed."""
        key = await self.resolve(name, version)
        served = self._loaded.get(key)
        if served is not None:
            self._loaded.move_to_end(key)
            return served
        failure = self._failures.get(key)
        if failure is not None and time.monotonic() - failure.at < FAILURE_TTL_S:
            raise ModelUnavailableError(f"model {key[0]} {key[1]} failed to load: {failure.reason}")
        task = self._loading.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(key))
            self._loading[key] = task
        return await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def use(self, name: str, version: str | None = None) -> AsyncIterator[ServedModel]:
        """The served version, held so that eviction waits for this request to finish."""
        served = await self.get(name, version)
        served.in_flight += 1
        try:
            yield served
        finally:
            served.in_flight -= 1
            served.last_used = time.monotonic()

    def _manifest_bytes_blocking(self, name: str, version: str) -> int:
        manifest = parse_manifest(self._store.read_bytes(f"{name}/{version}/{MANIFEST_FILE}"))
        return sum(entry.size for entry in manifest.files)

    async def _files_of(self, key: Key) -> int:
        """The bytes of ``key``'s files as its manifest lists them (read once per version)."""
        known = self._files_bytes.get(key)
        if known is None:
            known = await asyncio.to_thread(self._manifest_bytes_blocking, *key)
            self._files_bytes[key] = known
        return known

    async def has_room_for(self, name: str, version: str) -> bool:
        """Whether ``name`` ``version`` would load now without evicting anything."""
        count = len(self._loaded) + len(self._loading)
        if count >= self.settings.serving.max_models_in_memory:
            return False
        budget = self.settings.model_memory_budget_bytes
        if not budget:
            return True
        files = await self._files_of((name, version))
        return self.committed_bytes() + files + self.settings.model_overhead_bytes <= budget

    async def _reserve(self, key: Key) -> None:
        """Make room for ``key`` within the byte budget before it loads, or refuse it."""
        budget = self.settings.model_memory_budget_bytes
        if not budget:
            return
        files = await self._files_of(key)
        needed = files + self.settings.model_overhead_bytes
        if needed > budget:
            reason = (
                f"it needs {needed} bytes (files plus MODEL_OVERHEAD_BYTES), more than "
                f"MODEL_MEMORY_BUDGET_BYTES={budget}"
            )
            self._failures[key] = _Failure(reason, time.monotonic())
            raise ModelUnavailableError(f"model {key[0]} {key[1]} cannot be loaded: {reason}")
        self._reserved[key] = needed
        self._enforce_limits(keep=key)

    async def _load(self, key: Key) -> ServedModel:
        name, version = key
        started = time.monotonic()
        try:
            await self._reserve(key)
            store = open_store(join_uri(self._store.uri, name, version))
            verified = await asyncio.to_thread(
                read_servable, store, expected_digest=self._digests.get(key)
            )
            opening = functools.partial(
                open_served_model,
                store,
                verified,
                name=name,
                version=version,
                settings=self.settings,
                executor=self._executor,
                metrics=self.metrics,
            )
            gpu = self.settings.serving_gpu
            if opens_quickly(verified, requested=self.settings.serving.runtime, gpu=gpu):
                served = opening()  # a thread would wait for the interpreter behind requests
            else:
                served = await asyncio.to_thread(opening)
        except (ArtifactError, StorageError, ValueError, RuntimeError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self._failures[key] = _Failure(reason, time.monotonic())
            self.metrics.load_failures.labels(name, version).inc()
            log.error("loading %s %s failed: %s", name, version, reason)
            raise ModelUnavailableError(f"model {name} {version} failed to load: {reason}") from exc
        finally:
            self._loading.pop(key, None)
            self._reserved.pop(key, None)
        budget = self.settings.model_memory_budget_bytes
        if budget and self._footprint(served) > budget:
            reason = (
                f"it needs {served.size_bytes} bytes, more than MODEL_MEMORY_BUDGET_BYTES={budget}"
            )
            self._failures[key] = _Failure(reason, time.monotonic())
            raise ModelUnavailableError(f"model {name} {version} cannot be loaded: {reason}")
        self._failures.pop(key, None)
        self._loaded[key] = served
        self._loaded_bytes += self._footprint(served)
        self.metrics.load_seconds.labels(name, version).observe(time.monotonic() - started)
        self.metrics.memory.labels(name, version).set(self._footprint(served))
        self._enforce_limits(keep=key)
        self.metrics.loaded.set(len(self._loaded))
        log.info(
            "loaded %s %s (%d bytes, %s)", name, version, served.size_bytes, served.artifact.digest
        )
        return served

    # ---- eviction --------------------------------------------------------------------------

    def _footprint(self, served: ServedModel) -> int:
        return served.size_bytes + self.settings.model_overhead_bytes

    def bytes_in_memory(self) -> int:
        """Bytes the loaded versions hold, as the budget counts them (files plus overhead)."""
        return self._loaded_bytes

    def committed_bytes(self) -> int:
        """Bytes loaded plus bytes reserved by loads under way: never more than the budget."""
        return self.bytes_in_memory() + sum(self._reserved.values())

    def _enforce_limits(self, *, keep: Key) -> None:
        """Evict the least recently used until the count and the bytes (those loaded plus
        those reserved by loads under way) are within the limits."""
        budget = self.settings.model_memory_budget_bytes
        while True:
            count = len(self._loaded) + (keep not in self._loaded)
            held = self.committed_bytes()
            over = count > self.settings.serving.max_models_in_memory or (budget and held > budget)
            victim = next((k for k in self._loaded if k != keep), None)  # the least recently used
            if victim is None or not over:
                return
            self._evict(victim)

    def _evict(self, key: Key) -> None:
        served = self._loaded.pop(key)
        self._loaded_bytes -= self._footprint(served)
        self.metrics.evictions.labels(*key).inc()
        self.metrics.forget(*key)
        self.metrics.loaded.set(len(self._loaded))
        task = asyncio.get_running_loop().create_task(served.retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        log.info("evicted %s %s", *key)

    def expire_idle(self) -> None:
        """Unload versions idle longer than MODEL_CACHE_TTL (preloaded ones stay)."""
        ttl = self.settings.model_cache_ttl
        if ttl <= 0:
            return
        now = time.monotonic()
        for key, served in list(self._loaded.items()):
            if key in self.pinned_preloads or served.in_flight:
                continue
            if now - served.last_used > ttl:
                self._evict(key)

    async def preload(self) -> None:
        """Load PRELOAD_MODELS; readiness waits for this."""
        for name, version in self.settings.preload():
            try:
                served = await self.get(name, version)
            except (ModelNotFoundError, ModelUnavailableError) as exc:
                self.preload_errors.append(str(exc))
                continue
            self.pinned_preloads.add((served.name, served.version))
        self.preloaded = not self.preload_errors

    async def close(self) -> None:
        for key in list(self._loaded):
            self._evict(key)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
