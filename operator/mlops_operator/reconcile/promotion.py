"""Promote a version to a stage through the registry's rules, as ``mlops promote`` does.

The ModelVersion's ``spec.stage`` is patched (with the reason annotation the ModelVersion
reconciler records in its stage history); the registry's policy (one production version,
archive or return to staging the one it replaces) is checked first and carried out by the
ModelVersion reconciler. A Deployment that follows the production stage then picks it up.
"""

from __future__ import annotations

from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model import Model
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.kube import Kube
from mlops_operator.reconcile.model_version import STAGE_REASON_ANNOTATION, stage_reason_annotation
from mlops_operator.registry.stages import VersionStage, plan_promotion


class PromotionError(Exception):
    """The version cannot be promoted; the message says why."""


def promote_version(
    kube: Kube, *, namespace: str, model: str, version: str, reason: str
) -> list[str]:
    """Move ``model`` ``version`` to production; the transitions, as lines (none: already)."""
    versions = [
        ModelVersion.from_body(body)
        for body in kube.list(API_VERSION, "ModelVersion", namespace)
        if body.get("spec", {}).get("model") == model
    ]
    target = next((v for v in versions if v.spec.version == version), None)
    if target is None:
        raise PromotionError(f"model {model} has no version {version} in {namespace}")
    body = kube.get(API_VERSION, "Model", model, namespace)
    policy = Model.from_body(body).spec.registry if body else None
    plan = plan_promotion(
        VersionStage(target.metadata.name, version, target.spec.stage),
        "production",
        [VersionStage(v.metadata.name, v.spec.version, v.spec.stage) for v in versions],
        single_production=policy.single_production if policy else True,
        replaced_to="archived" if policy is None or policy.archive_on_promote else "staging",
    )
    if not plan:
        return []
    kube.merge_patch(
        API_VERSION,
        "ModelVersion",
        target.metadata.name,
        namespace,
        {
            "metadata": {
                "annotations": {
                    STAGE_REASON_ANNOTATION: stage_reason_annotation("production", reason)
                }
            },
            "spec": {"stage": "production"},
        },
    )
    return [f"{model} {t.version}: {t.old} → {t.new}" for t in plan]
