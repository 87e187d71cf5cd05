"""Model lifecycle in the repository: coalesced loads, LRU and byte budget, TTL, eviction with
requests in flight, readiness from preloads. Real artifacts, real torch, no HTTP."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_serving_models import build_repository

from mlops_core.serving_spec import BatchingSpec, ServingSpec
from mlops_serving.errors import ModelNotFoundError, ModelUnavailableError
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.integration

RECORD = {"amount": 150.0, "age": 30, "score": 1.0, "segment": "vip"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("models"))


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


def repository(
    models: Path, executor: ThreadPoolExecutor, *, in_memory: int = 4, **settings: object
) -> ModelRepository:
    serving = ServingSpec(max_models_in_memory=in_memory, batching=BatchingSpec(max_latency_ms=1.0))
    config = ServerSettings(model_repository_uri=str(models), serving=serving, **settings)  # type: ignore[arg-type]
    return ModelRepository(config, executor=executor, metrics=ServerMetrics())


def load_count(repo: ModelRepository, version: str) -> float | None:
    return repo.metrics.registry.get_sample_value(
        "ml_model_load_seconds_count", {"model": "fraud", "version": version}
    )


def test_concurrent_first_requests_share_one_load(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        repo = repository(models, executor)
        served = await asyncio.gather(*(repo.get("fraud", "1.0.0") for _ in range(20)))
        assert len({id(s) for s in served}) == 1
        assert load_count(repo, "1.0.0") == 1
        predictions = await asyncio.gather(*(s.predict([RECORD]) for s in served))
        assert {p[0].label for p in predictions} == {"fraud"}
        await repo.close()

    asyncio.run(scenario())


def test_lru_evicts_least_recently_used_and_keeps_in_flight_requests(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        repo = repository(models, executor, in_memory=2)
        await repo.get("fraud", "1.0.0")
        await repo.get("threats")
        await repo.get("fraud", "1.0.0")  # now threats is the least recently used
        async with repo.use("fraud", "1.1.0") as held:  # loads a third: threats goes
            assert not repo.is_loaded("threats", "1.0.0")
            assert repo.is_loaded("fraud", "1.0.0")
            # evict the held version too, by loading threats again, while it is in use
            await repo.get("threats")
            await repo.get("fraud", "1.0.0")
            assert not repo.is_loaded("fraud", "1.1.0")
            predictions = await held.predict([RECORD, RECORD])  # still answers
            assert [p.label for p in predictions] == ["fraud", "fraud"]
        assert len(repo.loaded()) == 2
        await repo.close()

    asyncio.run(scenario())


def test_memory_budget_bounds_bytes_and_rejects_oversized_models(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        first = await repository(models, executor).get("fraud", "1.0.0")
        size = first.size_bytes
        repo = repository(models, executor, model_memory_budget_bytes=size + size // 2)
        await repo.get("fraud", "1.0.0")
        await repo.get("fraud", "1.1.0")
        assert [m.version for m in repo.loaded()] == ["1.1.0"]
        tiny = repository(models, executor, model_memory_budget_bytes=size // 2)
        with pytest.raises(ModelUnavailableError, match="MODEL_MEMORY_BUDGET_BYTES"):
            await tiny.get("fraud", "1.0.0")
        await repo.close()

    asyncio.run(scenario())


def test_room_is_made_before_a_load_so_the_budget_holds_at_every_moment(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        size = (await repository(models, executor).get("fraud", "1.0.0")).size_bytes
        overhead = size // 4
        budget = 2 * (size + overhead) + size // 8  # room for two fraud versions, not three
        repo = repository(
            models,
            executor,
            model_memory_budget_bytes=budget,
            model_overhead_bytes=overhead,
            max_models_in_memory=10,
        )
        peak = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, repo.committed_bytes(), repo.bytes_in_memory())
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        for _ in range(3):
            for version in ("1.0.0", "1.1.0"):
                await repo.get("fraud", version)
            await asyncio.gather(repo.get("threats"), repo.get("fraud", "1.0.0"))
        done.set()
        await watcher
        assert 0 < peak <= budget
        assert repo.bytes_in_memory() <= budget
        assert (
            repo.metrics.registry.get_sample_value(
                "ml_model_memory_usage_bytes", {"model": "fraud", "version": "1.0.0"}
            )
            == size + overhead
        )
        # a version bigger than the whole budget is refused before anything of it is read
        small = repository(models, executor, model_memory_budget_bytes=size, model_overhead_bytes=1)
        with pytest.raises(ModelUnavailableError, match="MODEL_OVERHEAD_BYTES"):
            await small.get("fraud", "1.0.0")
        assert load_count(small, "1.0.0") is None
        await repo.close()

    asyncio.run(scenario())


def test_idle_models_expire_after_the_ttl_but_preloaded_stay(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        repo = repository(models, executor, model_cache_ttl=0.2, preload_models="threats")
        await repo.preload()
        assert repo.preloaded
        await repo.get("fraud", "1.0.0")
        await asyncio.sleep(0.3)
        repo.expire_idle()
        assert not repo.is_loaded("fraud", "1.0.0")
        assert repo.is_loaded("threats", "1.0.0")
        await repo.close()

    asyncio.run(scenario())


def test_default_version_is_the_highest_semver_unless_pinned(
    models: Path, executor: ThreadPoolExecutor
) -> None:
    async def scenario() -> None:
        assert await repository(models, executor).resolve("fraud", None) == ("fraud", "1.1.0")
        pinned = repository(models, executor, model_versions="fraud:1.0.0")
        assert await pinned.resolve("fraud", None) == ("fraud", "1.0.0")
        with pytest.raises(ModelNotFoundError, match=r"no version 2\.0\.0"):
            await pinned.resolve("fraud", "2.0.0")
        with pytest.raises(ModelNotFoundError, match="not a valid name"):
            await pinned.resolve("../etc", None)

    asyncio.run(scenario())


def test_failed_preload_keeps_the_server_unready_with_the_reason(
    models: Path, tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    shutil.copytree(models, tmp_path / "m")
    (tmp_path / "m" / "fraud" / "1.0.0" / "config.json").write_text("{}")

    async def scenario() -> None:
        repo = repository(tmp_path / "m", executor, preload_models="fraud:1.0.0,threats")
        await repo.preload()
        assert not repo.preloaded
        assert "does not match the manifest" in repo.preload_errors[0]
        assert repo.is_loaded("threats", "1.0.0")
        await repo.close()

    asyncio.run(scenario())
