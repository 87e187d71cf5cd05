"""One reconcile of a ModelVersion: verify its artifact, record and enforce its stage.

The stage is the user's (``spec.stage``); the registry records every change in
``status.stageHistory`` (bounded) and as an Event, refuses transitions its rules forbid, and
applies the Model's policy: when a version enters production under ``singleProduction``, the
other production versions of the model are archived (or returned to staging when
``archiveOnPromote`` is false). That last step patches the *other* versions' ``spec.stage``:
the policy the user declared on the Model is the intent being carried out, and doing it in the
operator makes every way of promoting (``kubectl mlops promote``, ``kubectl edit``, a Git
change, a TrainingJob registering straight into production) behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops_core.artifact import MANIFEST_FILE, ArtifactError
from mlops_core.storage import StorageError
from mlops_operator.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ConditionStatus,
    set_conditions,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model import Model, RegistryPolicy
from mlops_operator.api.model_version import STAGE_HISTORY_MAX, ModelVersion, StageTransition
from mlops_operator.builders.names import GROUP
from mlops_operator.context import OperatorContext
from mlops_operator.reconcile.artifact import (
    ArtifactMissingError,
    ArtifactUnavailableError,
    verify_artifact,
)
from mlops_operator.reconcile.notes import Note, Outcome
from mlops_operator.registry.stages import StageTransitionError, check_transition

STAGE_REASON_ANNOTATION = f"{GROUP}/stage-reason"
VERIFY_RETRY_SECONDS = 30.0


def _conditions(
    mv: ModelVersion,
    *,
    ready: tuple[ConditionStatus, str],
    stalled: tuple[ConditionStatus, str],
    message: str,
    now: datetime,
) -> list[Condition]:
    return set_conditions(
        mv.status.conditions,
        [
            (READY, *ready),
            (STALLED, *stalled),
            (RECONCILING, "False", ready[1]),
        ],
        message=message,
        primary=READY,
        observed_generation=mv.metadata.generation,
        now=now,
    )


def stage_reason_annotation(stage: str, reason: str) -> str:
    """The annotation value that explains a stage change: ``archived:ArchivedOnPromote``."""
    return f"{stage}:{reason}"


def stage_reason(annotation: str, stage: str) -> str | None:
    """The reason recorded for entering ``stage``, if the annotation is about that stage."""
    prefix = f"{stage}:"
    return annotation[len(prefix) :] if annotation.startswith(prefix) else None


def stage_history_after(
    mv: ModelVersion, *, now: datetime
) -> tuple[list[StageTransition], StageTransitionError | None]:
    """The stage history with the current ``spec.stage`` recorded, or the refusal."""
    history = list(mv.status.stage_history)
    last = history[-1].stage if history else None
    stage = mv.spec.stage
    if last == stage:
        return history, None
    if last is not None:
        try:
            check_transition(last, stage)
        except StageTransitionError as exc:
            return history, exc
    reason = stage_reason(mv.metadata.annotations.get(STAGE_REASON_ANNOTATION, ""), stage)
    if not reason:
        reason = "Registered" if last is None else "StageChanged"
    history.append(StageTransition(stage=stage, time=now, reason=reason[:256]))
    return history[-STAGE_HISTORY_MAX:], None


def _policy(ctx: OperatorContext, mv: ModelVersion) -> tuple[RegistryPolicy, bool]:
    body = ctx.kube.get(API_VERSION, "Model", mv.spec.model, mv.metadata.namespace)
    if body is None:
        return RegistryPolicy(), False
    return Model.from_body(body).spec.registry, True


def _replace_other_production_versions(
    ctx: OperatorContext, mv: ModelVersion, policy: RegistryPolicy, outcome: Outcome
) -> None:
    target = "archived" if policy.archive_on_promote else "staging"
    reason = "ArchivedOnPromote" if target == "archived" else "ReturnedToStagingOnPromote"
    for body in ctx.kube.list(API_VERSION, "ModelVersion", mv.metadata.namespace):
        other = ModelVersion.from_body(body)
        if (
            other.metadata.name == mv.metadata.name
            or other.spec.model != mv.spec.model
            or other.spec.stage != "production"
        ):
            continue
        ctx.kube.merge_patch(
            API_VERSION,
            "ModelVersion",
            other.metadata.name,
            other.metadata.namespace,
            {
                "metadata": {
                    "annotations": {
                        STAGE_REASON_ANNOTATION: stage_reason_annotation(target, reason)
                    }
                },
                "spec": {"stage": target},
            },
        )
        outcome.notes.append(
            Note(
                "Normal",
                reason,
                f"version {other.spec.version} moved to {target}: version {mv.spec.version} "
                "was promoted to production (the Model allows one production version)",
            )
        )


def _delete_artifact(ctx: OperatorContext, mv: ModelVersion) -> None:
    store = ctx.open_store(mv.spec.artifact.uri)
    keys = [key for key in store.list() if key != MANIFEST_FILE]
    # The manifest goes first, so a half-deleted artifact is never mistaken for a complete one.
    if store.exists(MANIFEST_FILE):
        store.delete(MANIFEST_FILE)
    for key in keys:
        store.delete(key)


def reconcile_model_version(ctx: OperatorContext, namespace: str, name: str) -> Outcome:
    outcome = Outcome()
    body = ctx.kube.get(API_VERSION, "ModelVersion", name, namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return outcome
    mv = ModelVersion.from_body(body)
    now = datetime.now(UTC)
    status: dict[str, Any] = {"observedGeneration": mv.metadata.generation}
    policy, model_exists = _policy(ctx, mv)

    with ctx.lock(f"model/{namespace}/{mv.spec.model}"):
        history, refusal = stage_history_after(mv, now=now)
        if refusal is not None:
            message = f"{refusal}; set spec.stage back to {history[-1].stage}"
            status["conditions"] = [
                c.to_wire()
                for c in _conditions(
                    mv,
                    ready=("False", "InvalidStageTransition"),
                    stalled=("True", "InvalidStageTransition"),
                    message=message,
                    now=now,
                )
            ]
            _write(ctx, mv, status)
            outcome.notes.append(Note("Warning", "InvalidStageTransition", message))
            return outcome
        entered = len(history) != len(mv.status.stage_history) or (
            history and mv.status.stage_history and history[-1] != mv.status.stage_history[-1]
        )
        if entered:
            previous = mv.status.stage_history[-1].stage if mv.status.stage_history else "new"
            status["stageHistory"] = [h.to_wire() for h in history]
            outcome.notes.append(
                Note(
                    "Normal",
                    "StageChanged",
                    f"version {mv.spec.version}: {previous} → {mv.spec.stage} "
                    f"({history[-1].reason})",
                )
            )
            if mv.spec.stage == "production":
                status["promotedAt"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
                if policy.single_production:
                    _replace_other_production_versions(ctx, mv, policy, outcome)

    if mv.spec.stage == "archived" and policy.delete_artifacts_on_archive:
        try:
            _delete_artifact(ctx, mv)
        except StorageError as exc:
            outcome.retry(VERIFY_RETRY_SECONDS, f"deleting the archived artifact failed: {exc}")
            return outcome
        ready: tuple[ConditionStatus, str] = ("True", "ArtifactDeleted")
        stalled: tuple[ConditionStatus, str] = ("False", "ArtifactDeleted")
        message = "archived; its artifact was deleted as the Model's registry policy asks"
        status["artifactVerified"] = False
    elif mv.status.artifact_verified and mv.status.artifact_bytes is not None:
        ready, stalled, message = ("True", "Verified"), ("False", "Verified"), _ready_message(mv)
    else:
        try:
            verified = verify_artifact(
                ctx.open_store(mv.spec.artifact.uri),
                expected_digest=mv.spec.artifact.digest,
                expected_model=mv.spec.model,
                expected_version=mv.spec.version,
            )
        except ArtifactUnavailableError as exc:
            outcome.retry(VERIFY_RETRY_SECONDS, str(exc))
            return outcome
        except ArtifactError as exc:
            reason = (
                "ArtifactMissing" if isinstance(exc, ArtifactMissingError) else "ArtifactCorrupted"
            )
            message = f"{exc}; publish the artifact again or delete this ModelVersion"
            status["artifactVerified"] = False
            ready, stalled = ("False", reason), ("True", reason)
            outcome.notes.append(Note("Warning", reason, message))
            outcome.retry(VERIFY_RETRY_SECONDS, message)
        else:
            status["artifactVerified"] = True
            status["artifactBytes"] = sum(entry.size for entry in verified.manifest.files)
            ready, stalled, message = (
                ("True", "Verified"),
                ("False", "Verified"),
                _ready_message(mv),
            )
            outcome.notes.append(Note("Normal", "ArtifactVerified", message))
    if not model_exists:
        message += f" (note: Model {mv.spec.model!r} does not exist in this namespace)"
    status["conditions"] = [
        c.to_wire() for c in _conditions(mv, ready=ready, stalled=stalled, message=message, now=now)
    ]
    _write(ctx, mv, status)
    return outcome


def _ready_message(mv: ModelVersion) -> str:
    return f"artifact {mv.spec.artifact.digest[:19]}… verified; stage {mv.spec.stage}"


def _write(ctx: OperatorContext, mv: ModelVersion, status: dict[str, Any]) -> None:
    ctx.kube.merge_patch(
        API_VERSION,
        "ModelVersion",
        mv.metadata.name,
        mv.metadata.namespace,
        {"status": status},
        subresource="status",
    )
