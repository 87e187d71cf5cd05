"""The model registry: list Models and their versions, promote a version, compare two.

Results are the typed custom resources (or small dataclasses); ``commands/registry.py`` prints
them for the terminal and ``rest/models.py`` serialises them as JSON.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import Field, computed_field
from pydantic.dataclasses import dataclass

from mlops_core.wire import WIRE_RESULT
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model import Model, RegisteredModelStatus
from mlops_operator.api.model_version import ModelVersion, Stage
from mlops_operator.operations.compare import Comparison, compare_versions
from mlops_operator.operations.errors import NotFoundError
from mlops_operator.operations.target import Target
from mlops_operator.reconcile.model_version import STAGE_REASON_ANNOTATION, stage_reason_annotation
from mlops_operator.registry.semver import InvalidVersionError, Version
from mlops_operator.registry.stages import (
    Transition,
    VersionStage,
    parse_stage,
    plan_promotion,
)


def _sort_key(mv: ModelVersion) -> Version:
    try:
        return Version.parse(mv.spec.version)
    except InvalidVersionError:
        return Version(0, 0, 0)


def list_models(target: Target, *, all_namespaces: bool = False) -> list[Model]:
    """The Models of the namespace (or of every namespace), by namespace and name."""
    namespace = None if all_namespaces else target.namespace
    models = [Model.from_body(b) for b in target.kube.list(API_VERSION, "Model", namespace)]
    return sorted(models, key=lambda m: (m.metadata.namespace or "", m.metadata.name))


def get_model(target: Target, model: str) -> Model | None:
    body = target.kube.get(API_VERSION, "Model", model, target.namespace)
    return Model.from_body(body) if body else None


def versions_by_model(target: Target) -> dict[str, list[ModelVersion]]:
    """Every ModelVersion of the namespace (one list call), by model, oldest version first."""
    grouped: dict[str, list[ModelVersion]] = {}
    for body in target.kube.list(API_VERSION, "ModelVersion", target.namespace):
        mv = ModelVersion.from_body(body)
        grouped.setdefault(mv.spec.model, []).append(mv)
    return {model: sorted(found, key=_sort_key) for model, found in grouped.items()}


def model_versions(target: Target, model: str) -> list[ModelVersion]:
    """Every ModelVersion of ``model``, oldest semantic version first."""
    return versions_by_model(target).get(model, [])


def find_version(
    target: Target, model: str, version: str
) -> tuple[ModelVersion, list[ModelVersion]]:
    """The ModelVersion of ``model`` at ``version``, and all the model's versions."""
    versions = model_versions(target, model)
    for mv in versions:
        if mv.spec.version == version:
            return mv, versions
    known = ", ".join(mv.spec.version for mv in versions) or "none"
    raise NotFoundError(
        f"model {model!r} has no version {version} in namespace {target.namespace} "
        f"(versions: {known})"
    )


@dataclass(frozen=True, config=WIRE_RESULT)
class Promotion:
    """What a promotion changed, and what the Model reported afterwards."""

    model: Annotated[str, Field(serialization_alias="modelId")]
    version: str
    stage: Stage
    transitions: Annotated[
        list[Transition],
        Field(description="Stage changes, the promoted version first, then those by the policy."),
    ]
    #: the Model's status once it showed the change; None when not waited for or not seen
    model_status: RegisteredModelStatus | None = Field(default=None, exclude=True)
    waited: float = Field(default=0.0, exclude=True)

    @computed_field(description="False when the version already was in that stage.")  # type: ignore[prop-decorator]
    @property
    def changed(self) -> bool:
        return bool(self.transitions)

    @computed_field(description="As the Model's status shows it.")  # type: ignore[prop-decorator]
    @property
    def production_version(self) -> str | None:
        return self.model_status.production_version if self.model_status else None

    @computed_field(description="Whether the Model's status showed the change in time.")  # type: ignore[prop-decorator]
    @property
    def confirmed(self) -> bool:
        return self.model_status is not None or not self.changed


def promote(target: Target, model: str, version: str, stage: str, *, wait: float) -> Promotion:
    """Move ``version`` of ``model`` to ``stage`` under the Model's registry policy.

    Only the promoted ModelVersion is written; the operator applies the policy's side effects
    (archiving the previous production version), which ``transitions`` lists in advance. With
    ``wait`` > 0, waits up to that many seconds for the Model's status to show the change.
    """
    new_stage = parse_stage(stage)
    mv, versions = find_version(target, model, version)
    found = get_model(target, model)
    policy = found.spec.registry if found else None
    plan = plan_promotion(
        VersionStage(mv.metadata.name, mv.spec.version, mv.spec.stage),
        new_stage,
        [VersionStage(v.metadata.name, v.spec.version, v.spec.stage) for v in versions],
        single_production=policy.single_production if policy else True,
        replaced_to="archived" if policy is None or policy.archive_on_promote else "staging",
    )
    if not plan:
        return Promotion(model=model, version=version, stage=new_stage, transitions=[])
    reason = "Promoted" if new_stage in ("staging", "production") else f"MovedTo{stage.title()}"
    target.kube.merge_patch(
        API_VERSION,
        "ModelVersion",
        mv.metadata.name,
        target.namespace,
        {
            "metadata": {
                "annotations": {STAGE_REASON_ANNOTATION: stage_reason_annotation(new_stage, reason)}
            },
            "spec": {"stage": new_stage},
        },
    )
    status = _wait_for_model(target, model, version, new_stage, wait) if wait > 0 else None
    return Promotion(
        model=model,
        version=version,
        stage=new_stage,
        transitions=list(plan),
        model_status=status,
        waited=wait,
    )


def _shows(status: RegisteredModelStatus, version: str, stage: str) -> bool:
    if stage == "production":
        return status.production_version == version
    if stage == "staging":
        return version in status.staging_versions
    return status.production_version != version and version not in status.staging_versions


def _wait_for_model(
    target: Target, model: str, version: str, stage: str, timeout: float
) -> RegisteredModelStatus | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = get_model(target, model)
        if found is not None and _shows(found.status, version, stage):
            return found.status
        time.sleep(0.5)
    return None


def compare(target: Target, model: str, left: str, right: str) -> Comparison:
    a, _ = find_version(target, model, left)
    b, _ = find_version(target, model, right)
    return compare_versions(a, b)
