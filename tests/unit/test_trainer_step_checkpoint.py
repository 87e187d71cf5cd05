"""A run stopped in the middle of an epoch (SIGTERM) resumes at the very step it stopped and
ends with exactly the parameters of an uninterrupted run: no step trained twice, none lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors

from mlops_core.storage import LocalStore
from mlops_core.training_spec import TrainerConfig
from mlops_trainer import checkpoint
from mlops_trainer.dataset import load_splits
from mlops_trainer.distributed import DistributedContext
from mlops_trainer.preparation import PreparedData, prepare
from mlops_trainer.reporting import Reporters
from mlops_trainer.stop_request import Preempted, StopRequest
from mlops_trainer.training_loop import EpochLoop, TrainingOutcome

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "breast-cancer"
SINGLE = DistributedContext(rank=0, world_size=1)


class CountingStop(StopRequest):
    """Counts the step boundaries the loop passes; asks to stop at boundary ``at``."""

    def __init__(self, at: int | None = None) -> None:
        super().__init__()
        self.at = at
        self.steps = 0

    def requested(self) -> bool:
        self.steps += 1
        return self.at is not None and self.steps >= self.at


def _config(**training: object) -> TrainerConfig:
    return TrainerConfig.model_validate(
        {
            "dataset": {
                "train": str(DATA / "train.csv"),
                "validation": str(DATA / "validation.csv"),
                "labelColumn": "diagnosis",
            },
            "model": {
                "architecture": "mlp",
                "hiddenSizes": [16],
                "dropout": 0.3,
                "optimizer": {"name": "adamw", "learningRate": 0.01},
            },
            "training": {"epochs": 3, "batchSize": 32, "seed": 7, **training},
            "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/unused"},
        }
    )


@pytest.fixture(scope="module")
def data() -> PreparedData:
    config = _config()
    return prepare(config, load_splits(config.dataset, seed=config.training.seed))


def _loop(
    config: TrainerConfig, data: PreparedData, store: LocalStore, stop: StopRequest
) -> EpochLoop:
    torch.set_num_threads(1)
    return EpochLoop(
        config,
        data,
        ctx=SINGLE,
        device=torch.device("cpu"),
        reporters=Reporters([]),
        checkpoints=store,
        stop=stop,
    )


def _parameter_bytes(outcome: TrainingOutcome) -> bytes:
    return save_safetensors({k: v.contiguous() for k, v in outcome.module.state_dict().items()})


def _steps_per_epoch(data: PreparedData) -> int:
    return -(-len(data.train) // 32)


@pytest.mark.parametrize("interval", [1, 0])
def test_stopped_mid_epoch_resumes_at_the_step_and_ends_byte_identical(
    tmp_path: Path, data: PreparedData, interval: int
) -> None:
    config = _config(checkpointInterval=interval)
    straight = CountingStop()
    expected = _loop(config, data, LocalStore(tmp_path / "a"), straight).run()
    per_epoch = _steps_per_epoch(data)
    assert straight.steps == 3 * per_epoch

    store = LocalStore(tmp_path / "b")
    at = per_epoch + per_epoch // 2  # half way through epoch 2
    first = CountingStop(at=at)
    with pytest.raises(Preempted) as stopped:
        _loop(config, data, store, first).run()
    assert (stopped.value.epoch, stopped.value.step, stopped.value.saved) == (
        2,
        at - per_epoch,
        True,
    )
    state = checkpoint.interrupted_state(store)
    assert state is not None
    assert state.partial is not None
    assert (state.partial.epoch, state.partial.steps) == (2, at - per_epoch)

    second = CountingStop()
    resumed = _loop(config, data, store, second).run()
    # every step was trained exactly once across the two starts: nothing lost, nothing twice
    assert first.steps + second.steps == straight.steps
    assert _parameter_bytes(resumed) == _parameter_bytes(expected)
    assert [r.metrics for r in resumed.history] == [r.metrics for r in expected.history]
    assert resumed.best_epoch == expected.best_epoch


def test_stopped_in_the_first_epoch_before_any_best_weights(
    tmp_path: Path, data: PreparedData
) -> None:
    config = _config(epochs=1)
    expected = _loop(config, data, LocalStore(tmp_path / "a"), CountingStop()).run()
    store = LocalStore(tmp_path / "b")
    with pytest.raises(Preempted):
        _loop(config, data, store, CountingStop(at=2)).run()
    resumed = _loop(config, data, store, CountingStop()).run()
    assert _parameter_bytes(resumed) == _parameter_bytes(expected)


def test_an_older_interrupted_checkpoint_is_not_resumed_over_a_newer_epoch(
    tmp_path: Path, data: PreparedData
) -> None:
    config = _config(checkpointInterval=1)
    store = LocalStore(tmp_path)
    per_epoch = _steps_per_epoch(data)
    with pytest.raises(Preempted):
        _loop(config, data, store, CountingStop(at=per_epoch // 2)).run()  # in epoch 1
    # a later start got through epoch 2 (its checkpoint is newer) and was killed without one
    fresh = _loop(config, data, store, CountingStop())
    for epoch in (1, 2):
        checkpoint.save_checkpoint(
            store,
            state=checkpoint.CheckpointState(
                fingerprint=checkpoint.run_fingerprint(config),
                epoch=epoch,
                early_stopping=checkpoint.EarlyStoppingState(),
                optimizer_groups=[],
            ),
            weights=fresh.module.state_dict(),
            best_weights=fresh.module.state_dict(),
            optimizer=fresh.optimizer.state_dict(),
        )
    loop = _loop(config, data, store, CountingStop())
    loop.resume()
    assert loop.start_epoch == 2
    assert loop.resume_progress is None


def test_sigterm_sets_the_stop_request() -> None:
    stop = StopRequest()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop.install()
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested()
    finally:
        signal.signal(signal.SIGTERM, previous)
