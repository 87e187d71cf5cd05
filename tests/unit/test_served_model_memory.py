"""What a loaded version holds in memory, and that an evicted one is freed at once."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from example_artifacts import dataset_of, example_records, publish_example

from mlops_core.storage import LocalStore
from mlops_serving import model_repository, runtimes
from mlops_serving.metrics import ServerMetrics
from mlops_serving.model_repository import ModelRepository
from mlops_serving.served_model import ServedModel, load_served_model
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects meanwhile (as for a server's frozen objects)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load(folder: Path) -> ServedModel:
    store = publish_example(folder, "mlp", steps=2)
    settings = ServerSettings(model_repository_uri=str(folder))
    return load_served_model(
        store,
        name="m",
        version="1.0.0",
        settings=settings,
        executor=ThreadPoolExecutor(1),
        metrics=ServerMetrics(),
    )


def test_a_retired_version_is_freed_by_reference_counting(
    tmp_path: Path, no_cyclic_gc: None
) -> None:
    records = example_records(dataset_of("mlp"), "test")[:3]

    async def serve_then_retire() -> weakref.ref[ServedModel]:
        served = _load(tmp_path)
        assert len(await served.predict(records)) == 3
        await served.drift_report()
        await served.retire()
        return weakref.ref(served)

    gone = asyncio.run(serve_then_retire())
    assert gone() is None, "a retired version must not wait for the cyclic collector"


def test_a_loaded_version_keeps_no_file_and_reads_its_reference_for_its_first_report(
    tmp_path: Path,
) -> None:
    records = example_records(dataset_of("mlp"), "test")[:60]

    async def first_report(served: ServedModel) -> list[str]:
        await served.predict(records)
        report = await served.drift_report()
        assert report is not None
        await served.retire()
        return [f.name for f in report.features]

    served = _load(tmp_path / "intact")
    assert served.artifact.parts.files == {}  # parsed, then let go
    assert len(asyncio.run(first_report(served))) > 1

    served = _load(tmp_path / "changed")
    stats = tmp_path / "changed" / "reference_stats.json"
    stats.write_bytes(stats.read_bytes().replace(b"1", b"2"))  # after the load, before a report
    assert asyncio.run(first_report(served)) == []  # checked against the manifest: refused


def test_the_budget_counts_the_versions_in_memory_as_they_come_and_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed, model in enumerate("abc"):
        publish_example(tmp_path / model / "1.0.0", "mlp", steps=2, seed=seed, model=model)
    overhead = 1000
    size = (
        sum(p.stat().st_size for p in (tmp_path / "a" / "1.0.0").iterdir())
        - (tmp_path / "a" / "1.0.0" / "manifest.json").stat().st_size
    )
    monkeypatch.setenv("MAX_MODELS_IN_MEMORY", "10")
    settings = ServerSettings(
        model_repository_uri=str(tmp_path),
        model_memory_budget_bytes=2 * (size + overhead) + overhead,  # two fit, not three
        model_overhead_bytes=overhead,
    )

    async def scenario() -> list[tuple[list[str], int]]:
        repository = ModelRepository(
            settings, executor=ThreadPoolExecutor(1), metrics=ServerMetrics()
        )
        seen = []
        for model in "abcab":
            await repository.get(model, "1.0.0")
            held = [served.name for served in repository.loaded()]
            assert repository.bytes_in_memory() == sum(
                served.size_bytes + overhead for served in repository.loaded()
            )
            seen.append((held, repository.bytes_in_memory()))
        await repository.close()
        assert repository.bytes_in_memory() == 0
        return seen

    seen = asyncio.run(scenario())
    assert [held for held, _ in seen] == [["a"], ["a", "b"], ["b", "c"], ["c", "a"], ["a", "b"]]
    assert all(held_bytes <= settings.model_memory_budget_bytes for _, held_bytes in seen)


def test_a_small_onnx_version_opens_on_the_event_loop_and_others_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime  # noqa: F401  (imported by a server's first ONNX load)

    publish_example(tmp_path / "small" / "1.0.0", "mlp", steps=2, model="small")
    publish_example(tmp_path / "legacy" / "1.0.0", "mlp", onnx=False, steps=2, model="legacy")
    publish_example(tmp_path / "big" / "1.0.0", "mlp", steps=2, model="big")
    opened_on: dict[str, bool] = {}
    opening = model_repository.open_served_model

    def recording(*args: Any, **kwargs: Any) -> ServedModel:
        opened_on[kwargs["name"]] = threading.current_thread() is threading.main_thread()
        return opening(*args, **kwargs)

    monkeypatch.setattr(model_repository, "open_served_model", recording)
    monkeypatch.setattr(runtimes, "QUICK_OPEN_MAX_BYTES", 0, raising=True)

    async def load(repository: ModelRepository, *names: str) -> None:
        for name in names:
            assert (await repository.get(name, "1.0.0")).name == name
        await repository.close()

    settings = ServerSettings(model_repository_uri=str(tmp_path))
    metrics = ServerMetrics()
    repository = ModelRepository(settings, executor=ThreadPoolExecutor(1), metrics=metrics)
    asyncio.run(load(repository, "big"))  # over QUICK_OPEN_MAX_BYTES
    monkeypatch.undo()
    monkeypatch.setattr(model_repository, "open_served_model", recording)
    repository = ModelRepository(settings, executor=ThreadPoolExecutor(1), metrics=ServerMetrics())
    asyncio.run(load(repository, "small", "legacy"))
    assert opened_on == {"big": False, "small": True, "legacy": False}
    verified = runtimes.read_servable(LocalStore(tmp_path / "small" / "1.0.0"))
    assert runtimes.opens_quickly(verified, requested="onnx", gpu=False)
    assert not runtimes.opens_quickly(verified, requested="torch", gpu=False)
    assert not runtimes.opens_quickly(verified, requested="onnx", gpu=True)
