"""One reconcile of a TrainingJob: start the run, follow its Job, register what it produced.

Level-triggered and idempotent: each call reads the TrainingJob, its Job and its pods afresh
and moves the run one step further. The version (and so the artifact location and the
checkpoint location) is chosen once and recorded in status *before* any child exists; the
children have deterministic names and are created with server-side apply; the ModelVersion
has a deterministic name and is created only if absent. A reconcile repeated, or resumed after
the operator was killed at any point, therefore creates nothing twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from mlops_core.artifact import ArtifactError
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.api.training_job import TrainingJob, TrainingPhase
from mlops_operator.builders.model_version import build_model_version
from mlops_operator.builders.names import training_job_child_name
from mlops_operator.builders.training_job import RunPlan, build_training_children, run_plan
from mlops_operator.context import OperatorContext
from mlops_operator.kube import ConflictError
from mlops_operator.reconcile.artifact import ArtifactUnavailableError, verify_artifact
from mlops_operator.reconcile.job_outcome import job_outcome
from mlops_operator.reconcile.notes import Note, Outcome
from mlops_operator.reconcile.training_status import (
    StatusPatch,
    differs,
    failed_status,
    is_finished,
    progress_status,
    started_status,
    succeeded_status,
)
from mlops_operator.reconcile.versioning import VersionConflictError, choose_version

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _write_status(ctx: OperatorContext, tj: TrainingJob, patch: StatusPatch) -> TrainingJob:
    if not differs(tj, patch):
        return tj
    body = ctx.kube.merge_patch(
        API_VERSION,
        "TrainingJob",
        tj.metadata.name,
        tj.metadata.namespace,
        {"status": patch},
        subresource="status",
    )
    return TrainingJob.from_body(body)


def _model_versions(ctx: OperatorContext, namespace: str, model: str) -> list[ModelVersion]:
    return [
        mv
        for mv in map(ModelVersion.from_body, ctx.kube.list(API_VERSION, "ModelVersion", namespace))
        if mv.spec.model == model
    ]


def _reserved_versions(ctx: OperatorContext, tj: TrainingJob) -> list[str]:
    reserved = []
    for body in ctx.kube.list(API_VERSION, "TrainingJob", tj.metadata.namespace):
        version = (body.get("status") or {}).get("version")
        spec = body.get("spec") or {}
        if (
            version
            and spec.get("modelName") == tj.spec.model_name
            and body["metadata"]["uid"] != tj.metadata.uid
        ):
            reserved.append(str(version))
    return reserved


def _start(ctx: OperatorContext, tj: TrainingJob, outcome: Outcome) -> TrainingJob | None:
    """Choose and record the run's version; None when the run cannot start."""
    namespace = tj.metadata.namespace or "default"
    with ctx.lock(f"model/{namespace}/{tj.spec.model_name}"):
        registered = [mv.spec.version for mv in _model_versions(ctx, namespace, tj.spec.model_name)]
        try:
            version = choose_version(
                tj, registered=registered, reserved=_reserved_versions(ctx, tj)
            )
        except VersionConflictError as exc:
            _write_status(
                ctx,
                tj,
                failed_status(
                    tj, reason="VersionConflict", message=str(exc), attempts=0, now=_now()
                ),
            )
            outcome.notes.append(Note("Warning", "VersionConflict", str(exc)))
            return None
        plan = run_plan(tj, version=version, settings=ctx.settings)
        job_name = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
        tj = _write_status(
            ctx,
            tj,
            started_status(
                tj, version=version, artifact_uri=plan.artifact_uri, job_name=job_name, now=_now()
            ),
        )
    outcome.notes.append(
        Note(
            "Normal",
            "VersionChosen",
            f"this run publishes version {version} to {plan.artifact_uri}",
        )
    )
    return tj


def _ensure_children(ctx: OperatorContext, tj: TrainingJob, plan: RunPlan) -> dict[str, Any]:
    """The run's Job, created (with its ServiceAccount, Role, RoleBinding, Service) if absent.

    An existing Job is left as it is: its pod template is immutable, and a run keeps the
    settings it started with even if the operator's configuration changes meanwhile.
    """
    name = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
    job = ctx.kube.get("batch/v1", "Job", name, tj.metadata.namespace)
    if job is not None:
        return job
    applied: dict[str, Any] = {}
    for manifest in build_training_children(tj, plan, ctx.settings):
        applied = ctx.kube.apply(manifest)
    return applied


def _register(
    ctx: OperatorContext, tj: TrainingJob, plan: RunPlan, mv_manifest: dict[str, Any]
) -> str:
    """Create the ModelVersion if absent; return its name. A version of the same name that
    another run (or a person) registered is a conflict, never overwritten."""
    name = mv_manifest["metadata"]["name"]
    existing = ctx.kube.get(API_VERSION, "ModelVersion", name, tj.metadata.namespace)
    if existing is None:
        try:
            ctx.kube.create(mv_manifest)
            return str(name)
        except ConflictError:
            existing = ctx.kube.get(API_VERSION, "ModelVersion", name, tj.metadata.namespace)
    if existing is not None:
        mv = ModelVersion.from_body(existing)
        if mv.spec.lineage.training_job != tj.metadata.name or mv.spec.version != plan.version:
            raise VersionConflictError(
                f"ModelVersion {name} already exists and was not registered by this run "
                f"(lineage: {mv.spec.lineage.training_job or 'none'}); the artifact stays at "
                f"{plan.artifact_uri}"
            )
    return str(name)


def _finish_success(
    ctx: OperatorContext,
    tj: TrainingJob,
    plan: RunPlan,
    result_metrics: dict[str, float],
    result_digest: str | None,
    attempts: int,
    outcome: Outcome,
) -> None:
    tj = _write_status(
        ctx,
        tj,
        progress_status(
            tj,
            phase="Registering",
            reason="VerifyingArtifact",
            message=f"verifying every file of {plan.artifact_uri}",
            attempts=attempts,
            now=_now(),
        ),
    )
    try:
        verified = verify_artifact(
            ctx.open_store(plan.artifact_uri),
            expected_digest=result_digest,
            expected_model=tj.spec.model_name,
            expected_version=plan.version,
        )
    except ArtifactUnavailableError as exc:
        outcome.retry(10.0, str(exc))
        return
    except ArtifactError as exc:
        message = f"the trainer reported success but the artifact failed verification: {exc}"
        _write_status(
            ctx,
            tj,
            failed_status(
                tj,
                reason="ArtifactVerificationFailed",
                message=message,
                attempts=attempts,
                now=_now(),
            ),
        )
        outcome.notes.append(Note("Warning", "ArtifactVerificationFailed", message))
        return
    metrics = result_metrics or verified.metrics
    mv_name = None
    if tj.spec.registration.enabled:
        manifest = build_model_version(
            tj,
            version=plan.version,
            artifact_uri=plan.artifact_uri,
            digest=verified.digest,
            metrics=metrics,
        )
        try:
            mv_name = _register(ctx, tj, plan, manifest)
        except VersionConflictError as exc:
            _write_status(
                ctx,
                tj,
                failed_status(
                    tj, reason="VersionConflict", message=str(exc), attempts=attempts, now=_now()
                ),
            )
            outcome.notes.append(Note("Warning", "VersionConflict", str(exc)))
            return
    _write_status(
        ctx,
        tj,
        succeeded_status(
            tj,
            model_version=mv_name,
            version=plan.version,
            artifact_uri=plan.artifact_uri,
            digest=verified.digest,
            metrics=metrics,
            attempts=attempts,
            now=_now(),
        ),
    )
    if mv_name:
        outcome.notes.append(
            Note("Normal", "ModelVersionCreated", f"registered {mv_name} (version {plan.version})")
        )


def reconcile_training_job(ctx: OperatorContext, namespace: str, name: str) -> Outcome:
    """Move the run of TrainingJob ``namespace/name`` one step further."""
    outcome = Outcome()
    with ctx.lock(f"trainingjob/{namespace}/{name}"):
        body = ctx.kube.get(API_VERSION, "TrainingJob", name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return outcome
        tj = TrainingJob.from_body(body)
        if is_finished(tj):
            return outcome
        if not tj.status.version or not tj.status.artifact:
            started = _start(ctx, tj, outcome)
            if started is None:
                return outcome
            tj = started
        version = tj.status.version
        if version is None or tj.status.artifact is None:
            return outcome
        plan = RunPlan(
            version=version,
            artifact_uri=tj.status.artifact.uri,
            checkpoint_uri=run_plan(tj, version=version, settings=ctx.settings).checkpoint_uri,
        )
        job = _ensure_children(ctx, tj, plan)
        job_name = job["metadata"]["name"]
        pods = ctx.kube.list(
            "v1", "Pod", namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}"
        )
        verdict = job_outcome(job, pods)
        if verdict.state == "Failed":
            _write_status(
                ctx,
                tj,
                failed_status(
                    tj,
                    reason=verdict.reason,
                    message=verdict.message,
                    attempts=verdict.attempts,
                    now=_now(),
                ),
            )
            outcome.notes.append(Note("Warning", verdict.reason, verdict.message))
        elif verdict.state == "Succeeded":
            result = verdict.result
            _finish_success(
                ctx,
                tj,
                plan,
                result.metrics if result else {},
                result.digest if result else None,
                verdict.attempts,
                outcome,
            )
        else:
            phase: TrainingPhase = "Running" if verdict.state == "Running" else "Pending"
            _write_status(
                ctx,
                tj,
                progress_status(
                    tj,
                    phase=phase,
                    reason=verdict.reason,
                    message=verdict.message,
                    attempts=verdict.attempts,
                    now=_now(),
                ),
            )
    return outcome
