"""One training run end to end: data → preprocessing → epochs → artifact → result."""

from __future__ import annotations

import logging

import torch

from mlops_core.artifact import (
    CONFIG_FILE,
    MANIFEST_FILE,
    ArtifactError,
    digest_of,
    parse_manifest,
    verify_file,
)
from mlops_core.artifact_config import ArtifactConfig
from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
from mlops_core.calibration import Calibration, CalibrationError, fit_temperature
from mlops_core.models import probabilities
from mlops_core.onnx_export import OnnxExportError, export_onnx
from mlops_core.progress import TrainingResult
from mlops_core.storage import ObjectNotFoundError, ObjectStore, join_uri, open_store
from mlops_core.training_spec import TrainerConfig
from mlops_trainer import checkpoint, distributed
from mlops_trainer.cpu_threads import thread_count
from mlops_trainer.dataset import load_splits
from mlops_trainer.distributed import DistributedContext
from mlops_trainer.errors import TrainerError
from mlops_trainer.preparation import PreparedData, prepare
from mlops_trainer.reporting import Reporters
from mlops_trainer.stop_request import StopRequest
from mlops_trainer.training_loop import EpochLoop, TrainingOutcome

log = logging.getLogger(__name__)
CHECKPOINTS_FOLDER = "checkpoints"


def checkpoint_uri(config: TrainerConfig) -> str | None:
    """Where this run's checkpoints go: output.checkpointUri, else ``<artifact>/checkpoints``."""
    if config.training.checkpoint_interval == 0 and config.output.checkpoint_uri is None:
        return None
    return config.output.checkpoint_uri or join_uri(config.output.artifact_uri, CHECKPOINTS_FOLDER)


def _published_earlier(artifact: ObjectStore, fingerprint: str) -> str | None:
    """The digest when this very run already published (a retry after the publish), else None.

    The artifact's own config.json names the run that trained it (its fingerprint), so a
    retry needs no marker of its own: the checkpoints are gone after the publish, every one.
    """
    try:
        raw_manifest = artifact.read_bytes(MANIFEST_FILE)
        manifest = parse_manifest(raw_manifest)
        raw_config = artifact.read_bytes(CONFIG_FILE)
        verify_file(manifest, CONFIG_FILE, raw_config)
        published = ArtifactConfig.model_validate_json(raw_config)
    except (ObjectNotFoundError, ArtifactError, ValueError):
        return None
    if published.run_fingerprint != fingerprint:
        return None
    return digest_of(raw_manifest)


NOT_PUBLISHED, PUBLISHED_BY_THIS_RUN, PUBLISHED_BY_ANOTHER, CHECK_FAILED = 0, 1, 2, 3


def _check_not_published(
    ctx: DistributedContext,
    device: torch.device,
    *,
    artifact: ObjectStore,
    fingerprint: str,
    config: TrainerConfig,
) -> str | None:
    """None when the version is free; its digest when this very run already published it (a
    retry after the publish). Rank 0 looks and tells every rank, so all stop or go together."""
    verdict, earlier, failure = NOT_PUBLISHED, None, None
    if ctx.is_primary:
        try:
            if artifact.exists(MANIFEST_FILE):
                earlier = _published_earlier(artifact, fingerprint)
                verdict = PUBLISHED_BY_ANOTHER if earlier is None else PUBLISHED_BY_THIS_RUN
        except Exception as exc:  # told to the other ranks before it is raised
            verdict, failure = CHECK_FAILED, exc
    verdict = distributed.broadcast_int(ctx, verdict, device)
    if failure is not None:
        raise failure
    if verdict == CHECK_FAILED:
        raise TrainerError("rank 0 could not read the artifact store; see its log")
    if verdict == PUBLISHED_BY_ANOTHER:
        output = config.output
        raise TrainerError(
            f"{join_uri(artifact.uri, MANIFEST_FILE)} already exists: version "
            f"{output.version} of {output.model_name!r} is published and is never "
            "overwritten; train a new version"
        )
    if verdict == PUBLISHED_BY_THIS_RUN:
        return distributed.broadcast_digest(ctx, earlier, device)
    return None


def _metrics_file(outcome: TrainingOutcome) -> ArtifactMetrics:
    return ArtifactMetrics(
        best_epoch=outcome.best_epoch,
        epochs_run=outcome.epochs_run,
        validation=outcome.validation,
        test=outcome.test,
        history=outcome.history,
    )


def _checked_onnx(outcome: TrainingOutcome, data: PreparedData) -> bytes:
    """``model.onnx`` of the kept weights, equal to torch's answers on the validation split."""
    try:
        return export_onnx(outcome.module, data.config, data.validation.inputs.cpu().numpy())
    except OnnxExportError as exc:
        raise TrainerError(f"the artifact was not published: {exc}") from exc


def _fitted_calibration(outcome: TrainingOutcome, data: PreparedData) -> Calibration | None:
    """The temperature that calibrates the kept weights' probabilities on the validation split
    (None when the split is empty: the version is then served without a performance estimate)."""
    validation = data.validation
    if len(validation) == 0:
        return None
    module = outcome.module
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            device = next(module.parameters()).device
            proba = probabilities(module(validation.inputs.to(device))).cpu().numpy()
    finally:
        module.train(was_training)
    try:
        calibration = fit_temperature(proba, validation.targets.cpu().numpy())
    except CalibrationError as exc:
        log.warning("no calibration published: %s", exc)
        return None
    log.info(
        "calibration: temperature %.3f, validation log-loss %.4f -> %.4f",
        calibration.temperature,
        calibration.log_loss_before,
        calibration.log_loss_after,
    )
    return calibration


def train_and_publish(
    config: TrainerConfig,
    *,
    ctx: DistributedContext,
    reporters: Reporters,
    stop: StopRequest | None = None,
) -> TrainingResult:
    """Run the whole training; raise TrainerError (or a storage/artifact error) on failure."""
    threads = thread_count()
    if threads is not None:
        torch.set_num_threads(threads)
    device = distributed.select_device(ctx)
    distributed.init(ctx, device)
    try:
        return _run(config, ctx=ctx, device=device, reporters=reporters, stop=stop)
    finally:
        distributed.shutdown(ctx)


def _run(
    config: TrainerConfig,
    *,
    ctx: DistributedContext,
    device: torch.device,
    reporters: Reporters,
    stop: StopRequest | None,
) -> TrainingResult:
    output = config.output
    artifact = open_store(output.artifact_uri)
    ckpt_uri = checkpoint_uri(config)
    checkpoints = open_store(ckpt_uri) if ckpt_uri else None
    fingerprint = checkpoint.run_fingerprint(config)
    earlier = _check_not_published(
        ctx,
        device,
        artifact=artifact,
        fingerprint=fingerprint,
        config=config,
    )
    if earlier is not None:
        log.info("this run already published %s as %s", artifact.uri, earlier)
        return TrainingResult(succeeded=True, artifact_uri=artifact.uri, digest=earlier)
    reporters.start(config, rank=ctx.rank, world_size=ctx.world_size)
    log.info(
        "training %s on %s (rank %d of %d)",
        config.model.architecture,
        device,
        ctx.rank,
        ctx.world_size,
    )
    splits = load_splits(config.dataset, seed=config.training.seed)
    data = prepare(config, splits)
    outcome = EpochLoop(
        config,
        data,
        ctx=ctx,
        device=device,
        reporters=reporters,
        checkpoints=checkpoints,
        stop=stop,
    ).run()
    digest: str | None = None
    failure: Exception | None = None
    if ctx.is_primary:
        try:
            onnx = _checked_onnx(outcome, data)
            digest = publish_artifact(
                artifact,
                model=output.model_name,
                version=output.version,
                module=outcome.module,
                config=data.config,
                preprocessor=data.preprocessor,
                reference=data.reference,
                metrics=_metrics_file(outcome),
                onnx=onnx,
                calibration=_fitted_calibration(outcome, data),
            ).digest
        except Exception as exc:  # told to the other ranks before it is raised
            failure = exc
    digest = distributed.broadcast_digest(ctx, digest, device)
    if failure is not None:
        raise failure
    if digest is None:
        raise TrainerError("rank 0 failed to publish the artifact; see its log")
    if ctx.is_primary and checkpoints is not None:
        checkpoint.delete_all(checkpoints)
    metrics = _metrics_file(outcome).flat()
    return TrainingResult(
        succeeded=True,
        artifact_uri=artifact.uri,
        digest=digest,
        metrics=metrics,
        best_epoch=outcome.best_epoch,
        epochs_run=outcome.epochs_run,
    )
