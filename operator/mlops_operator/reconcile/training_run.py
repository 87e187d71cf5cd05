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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_core.artifact import ArtifactError
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.api.training_job import TrainingJob, TrainingPhase
from mlops_operator.builders.model_version import build_model_version
from mlops_operator.builders.names import training_job_child_name
from mlops_operator.builders.training_job import (
    RunPlan,
    build_status_reporter,
    build_training_children,
    run_plan,
)
from mlops_operator.context import OperatorContext
from mlops_operator.kube import ConflictError, Kube
from mlops_operator.reconcile.artifact import ArtifactUnavailableError, verify_artifact
from mlops_operator.reconcile.job_outcome import job_outcome, pods_matter
from mlops_operator.reconcile.notes import Note, Outcome
from mlops_operator.reconcile.training_queue import (
    QueueBook,
    effective_queue,
    job_queue,
    observe_queue,
)
from mlops_operator.reconcile.training_status import (
    StatusPatch,
    differs,
    failed_status,
    is_finished,
    progress_status,
    queued_status,
    started_status,
    succeeded_status,
)
from mlops_operator.reconcile.versioning import (
    VersionBook,
    VersionConflictError,
    choose_version,
)

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(body: Mapping[str, Any]) -> TrainingJob:
    """The typed run. ``metadata.managedFields`` (the bulk of a body, of no use here) is left
    out before parsing rather than copied and validated on every event."""
    metadata = {
        key: value for key, value in (body.get("metadata") or {}).items() if key != "managedFields"
    }
    return TrainingJob.from_body({**body, "metadata": metadata})


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
    return _parse(body)


@dataclass(frozen=True)
class ApiVersionBook:
    """Versions taken, read from the API (two lists); the operator uses its watch indexes."""

    kube: Kube

    def taken(self, namespace: str, model: str, *, run: str) -> tuple[list[str], list[str]]:
        registered = [
            str((body.get("spec") or {}).get("version"))
            for body in self.kube.list(API_VERSION, "ModelVersion", namespace)
            if (body.get("spec") or {}).get("model") == model
        ]
        reserved = [
            str(body["status"]["version"])
            for body in self.kube.list(API_VERSION, "TrainingJob", namespace)
            if (body.get("status") or {}).get("version")
            and (body.get("spec") or {}).get("modelName") == model
            and body["metadata"]["name"] != run
        ]
        return registered, reserved


def _start(
    ctx: OperatorContext, tj: TrainingJob, versions: VersionBook, outcome: Outcome
) -> TrainingJob | None:
    """Choose and record the run's version; None when the run cannot start.

    The choice is made under the model's lock and reserved in memory at once, so the lock is
    held for no API call; the status write that persists it follows outside the lock (a crash
    before it loses nothing: no child exists yet, and the run chooses again).
    """
    namespace = tj.metadata.namespace or "default"
    model = tj.spec.model_name
    uid = tj.metadata.uid or ""
    conflict: VersionConflictError | None = None
    with ctx.lock(f"model/{namespace}/{model}"):
        version = ctx.chosen.get(uid)
        if version is None:
            registered, reserved = versions.taken(namespace, model, run=tj.metadata.name)
            try:
                version = choose_version(
                    tj,
                    registered=registered,
                    reserved=[*reserved, *ctx.reserved[(namespace, model)]],
                )
            except VersionConflictError as exc:
                conflict = exc
            else:
                ctx.reserved[(namespace, model)].add(version)
                ctx.chosen[uid] = version
    if version is None or conflict is not None:
        message = str(conflict)
        _write_status(
            ctx,
            tj,
            failed_status(tj, reason="VersionConflict", message=message, attempts=0, now=_now()),
        )
        outcome.notes.append(Note("Warning", "VersionConflict", message))
        return None
    plan = run_plan(tj, version=version, settings=ctx.settings)
    job_name = training_job_child_name(tj.metadata.name, uid)
    return _write_status(
        ctx,
        tj,
        started_status(
            tj, version=version, artifact_uri=plan.artifact_uri, job_name=job_name, now=_now()
        ),
    )


def _ensure_children(
    ctx: OperatorContext, tj: TrainingJob, plan: RunPlan, *, fresh: bool
) -> dict[str, Any]:
    """The run's Job, created (with its Service, and the namespace's status reporter) if absent.

    An existing Job is left as it is: its pod template is immutable, and a run keeps the
    settings it started with even if the operator's configuration changes meanwhile.
    ``fresh``: the version was chosen in this very reconcile, so no Job can exist yet.
    """
    namespace = tj.metadata.namespace or "default"
    name = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
    job = None if fresh else ctx.kube.get("batch/v1", "Job", name, namespace)
    if job is not None:
        return job
    queue = effective_queue(ctx, tj)
    with ctx.lock(f"provision/{namespace}"):
        if namespace not in ctx.provisioned:
            for manifest in build_status_reporter(namespace):
                ctx.kube.apply(manifest)
            ctx.provisioned.add(namespace)
    applied: dict[str, Any] = {}
    for manifest in build_training_children(tj, plan, ctx.settings, queue=queue):
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


def reconcile_training_job(
    ctx: OperatorContext,
    namespace: str,
    name: str,
    *,
    versions: VersionBook | None = None,
    created: Mapping[str, Any] | None = None,
    queues: QueueBook | None = None,
    pod_ended: bool = False,
) -> Outcome:
    """Move the run of TrainingJob ``namespace/name`` one step further.

    ``created``: the object as a watch event showed it. A body without status belongs to a run
    nobody has started, so it spares a read, unless this process started the run since; any
    other reconcile reads the object afresh under the run's lock. ``pod_ended``: a pod of the
    run's Job has ended, which its Job's status may not show yet, so the pods are read.
    """
    outcome = Outcome()
    with ctx.lock(f"trainingjob/{namespace}/{name}"):
        body = None
        if created is not None and not created.get("status"):
            uid = created.get("metadata", {}).get("uid")
            body = None if uid in ctx.started else created
        if body is None:
            body = ctx.kube.get(API_VERSION, "TrainingJob", name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return outcome
        tj = _parse(body)
        if is_finished(tj):
            return outcome
        fresh = False
        if not tj.status.version or not tj.status.artifact:
            started = _start(ctx, tj, versions or ApiVersionBook(ctx.kube), outcome)
            if started is None:
                return outcome
            tj, fresh = started, True
            ctx.started.add(tj.metadata.uid or "")
        version = tj.status.version
        if version is None or tj.status.artifact is None:
            return outcome
        plan = RunPlan(
            version=version,
            artifact_uri=tj.status.artifact.uri,
            checkpoint_uri=run_plan(tj, version=version, settings=ctx.settings).checkpoint_uri,
        )
        job = _ensure_children(ctx, tj, plan, fresh=fresh)
        job_name = job["metadata"]["name"]
        queue = job_queue(job)
        queue_patch: StatusPatch = {}
        if queue is not None:
            place = observe_queue(ctx, tj, job, queue, now=_now(), queues=queues)
            if (job.get("spec") or {}).get("suspend"):
                _write_status(
                    ctx,
                    tj,
                    queued_status(tj, verdict=place, attempts=tj.status.attempts, now=_now()),
                )
                return outcome
            queue_patch = {"queue": place.status.to_merge_patch()}
        pods = []
        if pod_ended or pods_matter(job):
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
        elif verdict.state == "Pending" and tj.status.phase == "Pending" and not queue_patch:
            pass  # still waiting for a pod: the status written at the start says so
        else:
            phase: TrainingPhase = "Running" if verdict.state == "Running" else "Pending"
            patch = progress_status(
                tj,
                phase=phase,
                reason=verdict.reason,
                message=verdict.message,
                attempts=verdict.attempts,
                now=_now(),
            )
            _write_status(ctx, tj, {**patch, **queue_patch})
    return outcome
