"""Checkpoints without pickle: optimizer state through safetensors, state.json last, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlops_core.storage import LocalStore
from mlops_core.training_spec import TrainerConfig
from mlops_trainer import checkpoint
from mlops_trainer.checkpoint import CheckpointState
from mlops_trainer.early_stopping import EarlyStoppingState
from mlops_trainer.errors import TrainerError

pytestmark = pytest.mark.unit


def _config(seed: int = 1) -> TrainerConfig:
    return TrainerConfig.model_validate(
        {
            "dataset": {"train": "train.csv"},
            "model": {"architecture": "mlp"},
            "training": {"seed": seed},
            "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/tmp/x"},
        }
    )


def _trained_optimizer(name: str) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    optimizer = (
        torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
        if name == "sgd"
        else torch.optim.AdamW(module.parameters(), lr=0.01)
    )
    for _ in range(3):
        optimizer.zero_grad()
        module(torch.randn(4, 3)).sum().backward()
        optimizer.step()
    return module, optimizer


def _state(epoch: int, fingerprint: str) -> CheckpointState:
    return CheckpointState(
        fingerprint=fingerprint,
        epoch=epoch,
        early_stopping=EarlyStoppingState(best_value=0.5, best_epoch=epoch, bad_epochs=0),
        optimizer_groups=[],
    )


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_optimizer_state_round_trips_and_training_continues_identically(
    tmp_path: Path, name: str
) -> None:
    module, optimizer = _trained_optimizer(name)
    store = LocalStore(tmp_path)
    fingerprint = checkpoint.run_fingerprint(_config())
    checkpoint.save_checkpoint(
        store,
        state=_state(1, fingerprint),
        weights=module.state_dict(),
        best_weights=module.state_dict(),
        optimizer=optimizer.state_dict(),
    )
    saved = checkpoint.load_checkpoint(store, 1, fingerprint=fingerprint)
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(saved.weights)
    twin_optimizer = type(optimizer)(twin.parameters(), lr=1.0)
    twin_optimizer.load_state_dict(saved.optimizer)
    batch = torch.randn(4, 3)
    for mod, opt in ((module, optimizer), (twin, twin_optimizer)):
        opt.zero_grad()
        mod(batch).sum().backward()
        opt.step()
    for key, value in module.state_dict().items():
        assert torch.equal(value, twin.state_dict()[key])
    assert not any(p.suffix == ".pt" or p.suffix == ".pkl" for p in tmp_path.rglob("*"))


def test_only_complete_checkpoints_count_and_old_ones_are_pruned(tmp_path: Path) -> None:
    module, optimizer = _trained_optimizer("sgd")
    store = LocalStore(tmp_path)
    for epoch in (1, 2, 3):
        checkpoint.save_checkpoint(
            store,
            state=_state(epoch, "f"),
            weights=module.state_dict(),
            best_weights=module.state_dict(),
            optimizer=optimizer.state_dict(),
        )
    assert checkpoint.checkpoint_epochs(store) == [2, 3]
    store.write_bytes("epoch-000004/model.safetensors", b"interrupted before state.json")
    assert checkpoint.checkpoint_epochs(store) == [2, 3]
    checkpoint.delete_all(store)
    assert checkpoint.checkpoint_epochs(store) == []


def test_a_checkpoint_of_another_config_is_refused(tmp_path: Path) -> None:
    module, optimizer = _trained_optimizer("sgd")
    store = LocalStore(tmp_path)
    checkpoint.save_checkpoint(
        store,
        state=_state(1, checkpoint.run_fingerprint(_config(seed=1))),
        weights=module.state_dict(),
        best_weights=module.state_dict(),
        optimizer=optimizer.state_dict(),
    )
    with pytest.raises(TrainerError, match=r"belongs to a run with another config"):
        checkpoint.load_checkpoint(store, 1, fingerprint=checkpoint.run_fingerprint(_config(2)))
