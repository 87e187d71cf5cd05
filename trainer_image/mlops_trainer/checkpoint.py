"""Resumable checkpoints in the object store, without pickle.

A checkpoint of epoch N is a folder ``epoch-<N>/`` under the run's checkpoint URI::

    model.safetensors      weights after epoch N
    best.safetensors       weights of the best epoch so far (what will be published)
    optimizer.safetensors  the optimizer's tensors (moments, step counts)
    state.json             epoch, early stopping, history, optimizer hyperparameters,
                           grad-scaler state and the run's fingerprint — written LAST

Only a folder with ``state.json`` counts. Randomness needs no saved state at epoch ends: each
epoch reseeds from (seed, epoch, rank), so a resumed run continues exactly as an uninterrupted
one would.

A run stopped in the middle of an epoch (SIGTERM: preemption, drain) writes ``interrupted/``:
the same files as of that optimizer step, ``state.json`` naming the epoch in progress and the
steps done (``partial``), and per rank ``rank-<r>.safetensors`` with the random generator's
state and the epoch's running loss sum, so the rest of the epoch draws and sums exactly as it
would have. It is resumed when it is at least as far as the newest epoch checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field, ValidationError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from mlops_core.progress import EpochRecord
from mlops_core.storage import ObjectNotFoundError, ObjectStore
from mlops_core.training_spec import TrainerConfig
from mlops_core.wire import WireModel
from mlops_trainer.early_stopping import EarlyStoppingState
from mlops_trainer.errors import TrainerError

STATE_FILE = "state.json"
INTERRUPTED = "interrupted"
MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
KEEP_LAST = 2
_FOLDER = re.compile(r"^epoch-(\d{6})/state\.json$")

Weights = dict[str, torch.Tensor]


class PartialEpoch(WireModel):
    """How far into ``epoch`` an interrupted run got."""

    epoch: int = Field(ge=1, description="The epoch in progress.")
    steps: int = Field(ge=0, description="Optimizer steps of that epoch already taken.")
    examples: int = Field(ge=0, description="Examples (this rank's) those steps used.")


class CheckpointState(WireModel):
    """``state.json`` of a checkpoint."""

    fingerprint: str = Field(description="sha256 of the run's dataset, model and training spec.")
    epoch: int = Field(ge=1)
    early_stopping: EarlyStoppingState
    best_metrics: dict[str, float] = Field(default_factory=dict)
    history: list[EpochRecord] = Field(default_factory=list)
    optimizer_groups: list[dict[str, Any]] = Field(description="Optimizer param_groups.")
    optimizer_scalars: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Non-tensor optimizer state per parameter index."
    )
    scaler: dict[str, Any] | None = Field(default=None, description="GradScaler state (CUDA).")
    partial: PartialEpoch | None = Field(
        default=None, description="Only in interrupted/: the epoch in progress."
    )


@dataclass
class Checkpoint:
    state: CheckpointState
    weights: Weights
    best_weights: Weights | None
    optimizer: dict[str, Any]
    #: this rank's generator state and running loss sum (interrupted checkpoints only)
    rank_state: Weights | None = None


@dataclass
class EpochProgress:
    """Where an epoch stands after some steps: what an interrupted checkpoint records."""

    epoch: int
    steps: int
    examples: int
    loss_sum: torch.Tensor
    #: the default generator's state (CPU; plus the device's on CUDA) after those steps
    rng: dict[str, torch.Tensor]


def generator_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_generator(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], device)


def run_fingerprint(config: TrainerConfig) -> str:
    """Identifies a run's inputs: a checkpoint from another config must not be resumed."""
    parts = {
        "dataset": config.dataset.to_wire(),
        "model": config.model.to_wire(),
        "training": config.training.to_wire(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cpu_copy(weights: Weights) -> Weights:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in weights.items()}


def split_optimizer_state(
    state_dict: dict[str, Any],
) -> tuple[Weights, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Tensors (for safetensors), param groups and scalar state (for JSON) of an optimizer."""
    tensors: Weights = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, list(state_dict["param_groups"]), scalars


def join_optimizer_state(
    tensors: Weights, groups: list[dict[str, Any]], scalars: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, values in scalars.items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": groups}


def folder(epoch: int) -> str:
    return f"epoch-{epoch:06d}"


def checkpoint_epochs(store: ObjectStore) -> list[int]:
    """Epochs with a complete checkpoint, ascending."""
    epochs = []
    for key in store.list(""):
        match = _FOLDER.match(key)
        if match:
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def save_checkpoint(
    store: ObjectStore,
    *,
    state: CheckpointState,
    weights: Weights,
    best_weights: Weights,
    optimizer: dict[str, Any],
) -> None:
    """Write epoch ``state.epoch``'s checkpoint (state.json last), then prune old ones."""
    _write(store, folder(state.epoch), state, weights, best_weights, optimizer)
    for old in checkpoint_epochs(store)[:-KEEP_LAST]:
        delete_checkpoint(store, old)


def _write(
    store: ObjectStore,
    base: str,
    state: CheckpointState,
    weights: Weights,
    best_weights: Weights | None,
    optimizer: dict[str, Any],
) -> None:
    tensors, groups, scalars = split_optimizer_state(optimizer)
    state = state.model_copy(update={"optimizer_groups": groups, "optimizer_scalars": scalars})
    store.delete(f"{base}/{STATE_FILE}")  # a folder being rewritten stops counting first
    store.write_bytes(f"{base}/{MODEL_FILE}", save_safetensors(cpu_copy(weights)))
    if best_weights is not None:
        store.write_bytes(f"{base}/{BEST_FILE}", save_safetensors(cpu_copy(best_weights)))
    else:
        store.delete(f"{base}/{BEST_FILE}")
    store.write_bytes(f"{base}/{OPTIMIZER_FILE}", save_safetensors(tensors))
    store.write_bytes(f"{base}/{STATE_FILE}", state.model_dump_json(by_alias=True).encode())


def rank_file(rank: int) -> str:
    return f"{INTERRUPTED}/rank-{rank}.safetensors"


def save_rank_state(store: ObjectStore, rank: int, tensors: Weights) -> None:
    """This rank's part of an interrupted checkpoint (written by every rank, before rank 0
    writes the rest)."""
    store.write_bytes(rank_file(rank), save_safetensors(cpu_copy(tensors)))


def save_interrupted(
    store: ObjectStore,
    *,
    state: CheckpointState,
    weights: Weights,
    best_weights: Weights | None,
    optimizer: dict[str, Any],
) -> None:
    """Write ``interrupted/`` (``state.partial`` set; state.json last)."""
    if state.partial is None:
        raise ValueError("an interrupted checkpoint needs state.partial")
    _write(store, INTERRUPTED, state, weights, best_weights, optimizer)


def interrupted_state(store: ObjectStore) -> CheckpointState | None:
    """The interrupted checkpoint's state, or None when there is none (or only part of one)."""
    try:
        raw = store.read_bytes(f"{INTERRUPTED}/{STATE_FILE}")
    except ObjectNotFoundError:
        return None
    try:
        return CheckpointState.model_validate_json(raw)
    except ValidationError as exc:
        where = f"{store.uri}/{INTERRUPTED}"
        raise TrainerError(f"checkpoint {where} has an invalid state.json") from exc


def delete_checkpoint(store: ObjectStore, epoch: int) -> None:
    base = folder(epoch)
    store.delete(f"{base}/{STATE_FILE}")  # first: the folder stops counting at once
    for name in (MODEL_FILE, BEST_FILE, OPTIMIZER_FILE):
        store.delete(f"{base}/{name}")


def load_checkpoint(
    store: ObjectStore, epoch: int | None, *, fingerprint: str, rank: int = 0
) -> Checkpoint:
    """Epoch ``epoch``'s checkpoint, or with None the interrupted one (with ``rank``'s part)."""
    base = folder(epoch) if epoch is not None else INTERRUPTED
    try:
        state = CheckpointState.model_validate_json(store.read_bytes(f"{base}/{STATE_FILE}"))
    except ValidationError as exc:
        raise TrainerError(f"checkpoint {store.uri}/{base} has an invalid state.json") from exc
    if state.fingerprint != fingerprint:
        raise TrainerError(
            f"checkpoint {store.uri}/{base} belongs to a run with another config: delete the "
            "checkpoints or give output.checkpointUri of this run"
        )
    tensors = load_safetensors(store.read_bytes(f"{base}/{OPTIMIZER_FILE}"))
    try:
        best = load_safetensors(store.read_bytes(f"{base}/{BEST_FILE}"))
    except ObjectNotFoundError:
        best = None  # interrupted in the first epoch: no best yet
    rank_state = None
    if epoch is None:
        rank_state = load_safetensors(store.read_bytes(rank_file(rank)))
    return Checkpoint(
        state=state,
        weights=load_safetensors(store.read_bytes(f"{base}/{MODEL_FILE}")),
        best_weights=best,
        optimizer=join_optimizer_state(tensors, state.optimizer_groups, state.optimizer_scalars),
        rank_state=rank_state,
    )


def delete_interrupted(store: ObjectStore) -> None:
    store.delete(f"{INTERRUPTED}/{STATE_FILE}")  # first: it stops counting at once
    for key in store.list(f"{INTERRUPTED}/"):
        store.delete(key)


def delete_all(store: ObjectStore) -> None:
    delete_interrupted(store)
    for epoch in checkpoint_epochs(store):
        delete_checkpoint(store, epoch)
