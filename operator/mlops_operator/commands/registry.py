"""``mlops models``, ``mlops versions``, ``mlops promote`` and ``mlops compare``."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model import Model
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.commands.compare import compare_versions, render_comparison
from mlops_operator.commands.output import number, table
from mlops_operator.kube import Kube
from mlops_operator.reconcile.model_version import STAGE_REASON_ANNOTATION, stage_reason_annotation
from mlops_operator.registry.semver import InvalidVersionError, Version
from mlops_operator.registry.stages import (
    VersionStage,
    parse_stage,
    plan_promotion,
)


class CommandError(Exception):
    """A command cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True)
class Target:
    kube: Kube
    namespace: str


def _sort_key(mv: ModelVersion) -> Version:
    try:
        return Version.parse(mv.spec.version)
    except InvalidVersionError:
        return Version(0, 0, 0)


def model_versions(target: Target, model: str) -> list[ModelVersion]:
    versions = [
        mv
        for mv in map(
            ModelVersion.from_body,
            target.kube.list(API_VERSION, "ModelVersion", target.namespace),
        )
        if mv.spec.model == model
    ]
    return sorted(versions, key=_sort_key)


def find_version(
    target: Target, model: str, version: str
) -> tuple[ModelVersion, list[ModelVersion]]:
    versions = model_versions(target, model)
    for mv in versions:
        if mv.spec.version == version:
            return mv, versions
    known = ", ".join(mv.spec.version for mv in versions) or "none"
    raise CommandError(
        f"model {model!r} has no version {version} in namespace {target.namespace} "
        f"(versions: {known}); list them with `mlops versions {model}`"
    )


def cmd_models(target: Target, *, all_namespaces: bool) -> str:
    namespace = None if all_namespaces else target.namespace
    models = [Model.from_body(b) for b in target.kube.list(API_VERSION, "Model", namespace)]
    if not models:
        where = "any namespace" if all_namespaces else f"namespace {target.namespace}"
        return f"no models in {where}"
    headers = ["name", "task", "production", "staging", "latest", "versions"]
    if all_namespaces:
        headers.insert(0, "namespace")
    rows = []
    for m in sorted(models, key=lambda m: (m.metadata.namespace or "", m.metadata.name)):
        row: list[object] = [
            m.metadata.name,
            m.spec.task,
            m.status.production_version,
            ",".join(m.status.staging_versions),
            m.status.latest_version,
            m.status.version_count,
        ]
        if all_namespaces:
            row.insert(0, m.metadata.namespace)
        rows.append(row)
    return table(headers, rows)


def cmd_versions(target: Target, model: str) -> str:
    versions = model_versions(target, model)
    if not versions:
        return f"model {model!r} has no versions in namespace {target.namespace}"
    metric_names = sorted({n for mv in versions for n in mv.spec.metrics})[:3]
    rows = []
    for mv in versions:
        ready = find_condition(mv.status.conditions, READY)
        rows.append(
            [
                mv.spec.version,
                mv.spec.stage,
                ready.status if ready else "Unknown",
                mv.spec.lineage.training_job or "-",
                *(number(mv.spec.metrics.get(n)) for n in metric_names),
                mv.metadata.name,
            ]
        )
    return table(["version", "stage", "ready", "trainingjob", *metric_names, "name"], rows)


def cmd_promote(target: Target, model: str, version: str, stage: str, *, wait: float) -> str:
    new_stage = parse_stage(stage)
    mv, versions = find_version(target, model, version)
    body = target.kube.get(API_VERSION, "Model", model, target.namespace)
    policy = Model.from_body(body).spec.registry if body else None
    plan = plan_promotion(
        VersionStage(mv.metadata.name, mv.spec.version, mv.spec.stage),
        new_stage,
        [VersionStage(v.metadata.name, v.spec.version, v.spec.stage) for v in versions],
        single_production=policy.single_production if policy else True,
        replaced_to="archived" if policy is None or policy.archive_on_promote else "staging",
    )
    if not plan:
        return f"{model} {version} is already in {new_stage}"
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
    lines = [f"{model} {t.version}: {t.old} → {t.new}" for t in plan]
    if len(plan) > 1:
        lines[1:] = [f"{line} (by the Model's registry policy)" for line in lines[1:]]
    if wait > 0:
        lines.append(_wait_for_model(target, model, version, new_stage, wait))
    return "\n".join(lines)


def _wait_for_model(target: Target, model: str, version: str, stage: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = target.kube.get(API_VERSION, "Model", model, target.namespace)
        if body is not None:
            status = Model.from_body(body).status
            if (stage == "production" and status.production_version == version) or (
                stage == "staging" and version in status.staging_versions
            ):
                return f"Model {model}: production {status.production_version or '-'}"
            if stage not in ("production", "staging") and status.production_version != version:
                return f"Model {model}: production {status.production_version or '-'}"
        time.sleep(0.5)
    return f"the operator has not updated Model {model} within {timeout:.0f}s; is it running?"


def cmd_compare(target: Target, model: str, left: str, right: str) -> str:
    a, _ = find_version(target, model, left)
    b, _ = find_version(target, model, right)
    return render_comparison(compare_versions(a, b))
