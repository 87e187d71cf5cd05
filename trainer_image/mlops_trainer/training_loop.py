"""The epoch loop: data parallel shards, mixed precision, early stopping, checkpoints, resume."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mlops_core.classification_metrics import compute_metrics
from mlops_core.models import build_model, probabilities
from mlops_core.progress import HISTORY_MAX, EpochRecord, TrainingProgress
from mlops_core.storage import ObjectStore
from mlops_core.training_spec import TrainerConfig
from mlops_trainer import checkpoint, distributed
from mlops_trainer.checkpoint import EpochProgress, generator_state, restore_generator
from mlops_trainer.distributed import DistributedContext
from mlops_trainer.early_stopping import EarlyStoppingState, step
from mlops_trainer.errors import TrainerError
from mlops_trainer.optimization import LossFunction, loss_function, make_optimizer
from mlops_trainer.preparation import Examples, PreparedData
from mlops_trainer.reporting import Reporters
from mlops_trainer.stop_request import Preempted, StopRequest

log = logging.getLogger(__name__)
EVAL_BATCH_MIN = 1024


@dataclass
class TrainingOutcome:
    """The module with the best epoch's weights, and what the run measured."""

    module: nn.Module
    best_epoch: int
    epochs_run: int
    validation: dict[str, float]
    test: dict[str, float]
    history: list[EpochRecord] = field(default_factory=list)


def derive_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed for (seed, epoch, rank, ...), stable across runs and machines."""
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def shard_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, ctx: DistributedContext
) -> list[np.ndarray[Any, np.dtype[np.int64]]]:
    """This rank's mini-batches (row indices) of one epoch.

    Every rank draws the same permutation; a global batch of ``batch_size`` rows is split into
    ``world_size`` equal per-rank batches. With several workers the permutation is wrapped so
    every rank runs the same number of equal steps, as DDP requires.
    """
    order = np.random.default_rng(derive_seed(seed, epoch)).permutation(n)
    if not ctx.enabled:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    per_rank = max(1, math.ceil(batch_size / ctx.world_size))
    global_batch = per_rank * ctx.world_size
    steps = math.ceil(n / global_batch)
    padded = np.resize(order, steps * global_batch)
    return [
        padded[
            s * global_batch + ctx.rank * per_rank : s * global_batch + (ctx.rank + 1) * per_rank
        ]
        for s in range(steps)
    ]


def evaluate(
    module: nn.Module,
    examples: Examples,
    *,
    names: list[str],
    loss_fn: LossFunction,
    prefix: str,
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Metrics of ``module`` on a whole split (loss = the training loss, averaged)."""
    module.eval()
    chunks: list[torch.Tensor] = []
    total_loss = 0.0
    size = max(batch_size, EVAL_BATCH_MIN)
    with torch.inference_mode():
        for start in range(0, len(examples), size):
            inputs = examples.inputs[start : start + size].to(device)
            targets = examples.targets[start : start + size].to(device)
            logits = module(inputs).float()
            total_loss += float(loss_fn(logits, targets)) * int(targets.shape[0])
            chunks.append(probabilities(logits).cpu())
    proba = torch.cat(chunks).numpy().astype(np.float64)
    return compute_metrics(
        names,
        examples.targets.numpy(),
        proba,
        loss=total_loss / max(1, len(examples)),
        prefix=prefix,
    )


def check_monitor(config: TrainerConfig, metric_names: list[str], *, num_classes: int) -> None:
    """Fail before training when early stopping watches a metric the run will not have."""
    available = {"train_loss"} | {
        f"val_{name}" for name in metric_names if name != "roc_auc" or num_classes == 2
    }
    monitor = config.training.early_stopping.monitor
    if monitor not in available:
        hint = " (roc_auc needs two classes)" if monitor == "val_roc_auc" else ""
        raise TrainerError(
            f"training.earlyStopping.monitor {monitor!r} is not a metric of this run{hint}: "
            f"use one of {', '.join(sorted(available))}, or add it to model.metrics"
        )


class EpochLoop:
    """Trains one run; ``run()`` returns the best epoch's module and its metrics."""

    def __init__(
        self,
        config: TrainerConfig,
        data: PreparedData,
        *,
        ctx: DistributedContext,
        device: torch.device,
        reporters: Reporters,
        checkpoints: ObjectStore | None,
        stop: StopRequest | None = None,
    ) -> None:
        self.config = config
        self.stop = stop or StopRequest()
        #: the epoch in progress when the run resumed from an interrupted checkpoint
        self.resume_progress: EpochProgress | None = None
        self.data = data
        self.ctx = ctx
        self.device = device
        self.reporters = reporters
        self.checkpoints = checkpoints
        self.fingerprint = checkpoint.run_fingerprint(config)
        training = config.training
        self.amp = training.mixed_precision and device.type == "cuda"
        if training.mixed_precision and not self.amp:
            log.info("mixedPrecision is ignored on CPU")
        torch.manual_seed(training.seed)
        if device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        self.module = build_model(data.config).to(device)
        self.optimizer = make_optimizer(config.model.optimizer, self.module.parameters())
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss_fn = loss_function(config.model.loss)
        # val_loss is always measured: it is the default early-stopping monitor
        self.metric_names: list[str] = list(dict.fromkeys([*config.model.metrics, "loss"]))
        check_monitor(config, self.metric_names, num_classes=data.config.num_classes)
        self.early = EarlyStoppingState()
        self.history: list[EpochRecord] = []
        self.best_metrics: dict[str, float] = {}
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.start_epoch = 0
        self.train_inputs = data.train.inputs.to(device)
        self.train_targets = data.train.targets.to(device)

    # --- checkpoints -------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from the latest checkpoint of this run, if any (rank 0 picks the epoch)."""
        latest, interrupted = 0, 0
        if self.checkpoints is not None and self.ctx.is_primary:
            epochs = checkpoint.checkpoint_epochs(self.checkpoints)
            latest = epochs[-1] if epochs else 0
            state = checkpoint.interrupted_state(self.checkpoints)
            if state is not None and state.partial is not None:
                # the epoch in progress there, if that is ahead of the newest whole epoch
                interrupted = state.partial.epoch if state.partial.epoch > latest else 0
        latest = distributed.broadcast_int(self.ctx, latest, self.device)
        interrupted = distributed.broadcast_int(self.ctx, interrupted, self.device)
        if (latest == 0 and interrupted == 0) or self.checkpoints is None:
            return
        saved = checkpoint.load_checkpoint(
            self.checkpoints,
            None if interrupted else latest,
            fingerprint=self.fingerprint,
            rank=self.ctx.rank,
        )
        self.module.load_state_dict(saved.weights)
        self.optimizer.load_state_dict(saved.optimizer)
        if saved.state.scaler and self.amp:
            self.scaler.load_state_dict(saved.state.scaler)
        self.best_weights = saved.best_weights
        self.early = saved.state.early_stopping
        self.history = list(saved.state.history)
        self.best_metrics = dict(saved.state.best_metrics)
        partial = saved.state.partial
        if interrupted and partial is not None and saved.rank_state is not None:
            rank_state = dict(saved.rank_state)
            self.resume_progress = EpochProgress(
                epoch=partial.epoch,
                steps=partial.steps,
                examples=partial.examples,
                loss_sum=rank_state.pop("loss_sum").to(self.device),
                rng=rank_state,
            )
            self.start_epoch = partial.epoch - 1
            log.info(
                "resumed from the interrupted checkpoint at epoch %d, step %d in %s",
                partial.epoch,
                partial.steps,
                self.checkpoints.uri,
            )
            return
        self.start_epoch = saved.state.epoch
        log.info("resumed from checkpoint of epoch %d in %s", latest, self.checkpoints.uri)

    def save(self, epoch: int) -> None:
        if self.checkpoints is None or not self.ctx.is_primary:
            return
        assert self.best_weights is not None
        checkpoint.save_checkpoint(
            self.checkpoints,
            state=checkpoint.CheckpointState(
                fingerprint=self.fingerprint,
                epoch=epoch,
                early_stopping=self.early,
                best_metrics=self.best_metrics,
                history=self.history,
                optimizer_groups=[],
                scaler=self.scaler.state_dict() if self.amp else None,
            ),
            weights=self.module.state_dict(),
            best_weights=self.best_weights,
            optimizer=self.optimizer.state_dict(),
        )

    def save_interrupted(self, progress: EpochProgress) -> bool:
        """Checkpoint the step ``progress`` reached (every rank its own generator and loss sum,
        then rank 0 the rest, state.json last); whether there was somewhere to save it."""
        store = self.checkpoints
        if store is None:
            return False
        if self.ctx.is_primary:
            store.delete(f"{checkpoint.INTERRUPTED}/{checkpoint.STATE_FILE}")
        self._barrier()
        rank_state = {**progress.rng, "loss_sum": progress.loss_sum.reshape(())}
        checkpoint.save_rank_state(store, self.ctx.rank, rank_state)
        self._barrier()
        if self.ctx.is_primary:
            checkpoint.save_interrupted(
                store,
                state=checkpoint.CheckpointState(
                    fingerprint=self.fingerprint,
                    epoch=progress.epoch,
                    early_stopping=self.early,
                    best_metrics=self.best_metrics,
                    history=self.history,
                    optimizer_groups=[],
                    scaler=self.scaler.state_dict() if self.amp else None,
                    partial=checkpoint.PartialEpoch(
                        epoch=progress.epoch, steps=progress.steps, examples=progress.examples
                    ),
                ),
                weights=self.module.state_dict(),
                best_weights=self.best_weights,
                optimizer=self.optimizer.state_dict(),
            )
        self._barrier()
        return True

    def _barrier(self) -> None:
        distributed.all_reduce_sum(self.ctx, torch.zeros(1, device=self.device))

    def _stop_now(self) -> bool:
        """Whether any rank was asked to stop (all ranks agree, so all stop at the same step)."""
        flag = torch.tensor([1.0 if self.stop.requested() else 0.0], device=self.device)
        return bool(distributed.all_reduce_sum(self.ctx, flag)[0] > 0)

    # --- one epoch ---------------------------------------------------------------------------
    def train_epoch(self, model: nn.Module, epoch: int) -> float:
        """Mean training loss over all ranks' examples of this epoch."""
        training = self.config.training
        torch.manual_seed(derive_seed(training.seed, epoch, self.ctx.rank))
        model.train()
        total = torch.zeros((), device=self.device)
        batches = shard_batches(
            len(self.data.train), training.batch_size, seed=training.seed, epoch=epoch, ctx=self.ctx
        )
        order = torch.from_numpy(np.concatenate(batches)).to(self.device)
        count, start, skip = 0, 0, 0
        resumed = self.resume_progress
        if resumed is not None and resumed.epoch == epoch:
            restore_generator(resumed.rng, self.device)
            total = resumed.loss_sum.clone()
            count, skip = resumed.examples, resumed.steps
            start = sum(len(rows) for rows in batches[:skip])
            self.resume_progress = None
        for step_index, rows in enumerate(batches):
            if step_index < skip:
                continue
            index = order[start : start + len(rows)]
            start += len(rows)
            inputs = self.train_inputs.index_select(0, index)
            targets = self.train_targets.index_select(0, index)
            self.optimizer.zero_grad(set_to_none=True)
            if self.amp:
                with torch.autocast(self.device.type, dtype=torch.float16):
                    loss = self.loss_fn(model(inputs), targets)
                self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss = self.loss_fn(model(inputs), targets)
                loss.backward()  # type: ignore[no-untyped-call]
                self.optimizer.step()
            total.add_(loss.detach().float(), alpha=len(rows))
            count += len(rows)
            if self._stop_now():
                progress = EpochProgress(
                    epoch=epoch,
                    steps=step_index + 1,
                    examples=count,
                    loss_sum=total,
                    rng=generator_state(self.device),
                )
                saved = self.save_interrupted(progress)
                raise Preempted(epoch=epoch, step=step_index + 1, saved=saved)
        summed = distributed.all_reduce_sum(
            self.ctx, torch.stack([total, torch.tensor(float(count), device=self.device)])
        )
        return float(summed[0] / summed[1])

    def run(self) -> TrainingOutcome:
        self.resume()
        training = self.config.training
        model: nn.Module = self.module
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(self.module, device_ids=ids)
        epoch = self.start_epoch
        stop = self.start_epoch > 0 and self._stopped_before()
        while epoch < training.epochs and not stop:
            epoch += 1
            started = time.perf_counter()
            train_loss = self.train_epoch(model, epoch)
            elapsed = time.perf_counter() - started
            if not math.isfinite(train_loss):
                raise TrainerError(
                    f"training loss became {train_loss} in epoch {epoch}: lower "
                    "model.optimizer.learningRate or check the data for extreme values"
                )
            metrics = {"train_loss": train_loss, **self.validate()}
            self.early, is_best, stop = step(
                training.early_stopping, self.early, epoch=epoch, metrics=metrics
            )
            stop = bool(distributed.broadcast_int(self.ctx, int(stop), self.device))
            if is_best:
                self.best_weights = checkpoint.cpu_copy(self.module.state_dict())
                self.best_metrics = metrics
            self.history.append(EpochRecord(epoch=epoch, metrics=metrics))
            self.report(epoch, metrics, samples_per_second=len(self.data.train) / elapsed)
            interval = training.checkpoint_interval
            if interval and (epoch % interval == 0 or stop or epoch == training.epochs):
                self.save(epoch)
        return self.finish(epoch)

    def _stopped_before(self) -> bool:
        spec = self.config.training.early_stopping
        return spec.enabled and self.early.bad_epochs >= spec.patience

    def validate(self) -> dict[str, float]:
        return evaluate(
            self.module,
            self.data.validation,
            names=self.metric_names,
            loss_fn=self.loss_fn,
            prefix="val_",
            batch_size=self.config.training.batch_size,
            device=self.device,
        )

    def report(self, epoch: int, metrics: dict[str, float], *, samples_per_second: float) -> None:
        progress = TrainingProgress(
            epoch=epoch,
            total_epochs=self.config.training.epochs,
            latest_metrics=metrics,
            best_metrics=self.best_metrics,
            best_epoch=self.early.best_epoch,
            history=self.history[-HISTORY_MAX:],
        )
        self.reporters.epoch(progress, samples_per_second=samples_per_second)

    def finish(self, epochs_run: int) -> TrainingOutcome:
        if self.best_weights is None or self.early.best_epoch is None:
            raise TrainerError("no epoch was trained: training.epochs must be at least 1")
        self.module.load_state_dict(self.best_weights)
        self.module.eval()
        test: dict[str, float] = {}
        if self.data.test is not None:
            test = evaluate(
                self.module,
                self.data.test,
                names=self.metric_names,
                loss_fn=self.loss_fn,
                prefix="test_",
                batch_size=self.config.training.batch_size,
                device=self.device,
            )
        validation = {k: v for k, v in self.best_metrics.items() if k.startswith("val_")}
        return TrainingOutcome(
            module=self.module,
            best_epoch=self.early.best_epoch,
            epochs_run=epochs_run,
            validation=validation,
            test=test,
            history=self.history,
        )
