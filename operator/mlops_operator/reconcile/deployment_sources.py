"""Which versions a Deployment asks for, read from the registry: the explicit ``version``, the
version in the followed stage, and the mirror's. A version is served only once its
ModelVersion is Ready (artifact verified); otherwise the answer says what is missing.

The A/B arms are another source of the same kind: every variant must be a Ready version before
the test starts; ``Sources.wanted`` lists every version the spec asks to serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops_operator.api.conditions import READY, is_true
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.builders.model_server import ServedVersion
from mlops_operator.kube import Kube
from mlops_operator.reconcile.model_versions import VersionsOf, versions_of_model
from mlops_operator.registry.semver import Version


@dataclass
class Sources:
    """The registry as far as one Deployment is concerned."""

    #: the version to roll out (None: nothing servable, see ``problem``)
    desired: str | None
    problem: str | None = None
    #: True when a person must act (a missing Model or version), False when time will tell
    stalled: bool = False
    #: Ready versions of the model, by version: what the builders need to run each
    ready: dict[str, ServedVersion] = field(default_factory=dict)
    #: the mirror's version, when it can be served
    mirror: str | None = None
    mirror_problem: str | None = None
    #: an A/B test's arms and their weights, once every one of them is Ready
    variants: dict[str, int] = field(default_factory=dict)

    def wanted(self) -> list[str]:
        return list(dict.fromkeys([*(v for v in (self.desired, self.mirror) if v), *self.variants]))


def _served(mv: ModelVersion) -> ServedVersion:
    return ServedVersion(
        version=mv.spec.version,
        artifact_uri=mv.spec.artifact.uri,
        digest=mv.spec.artifact.digest,
        size_bytes=mv.status.artifact_bytes,
    )


def source_signature(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a Deployment's sources read of one ModelVersion (from its raw body): its version,
    stage and artifact, the artifact's size, its Ready and Stalled conditions and whether it is
    being deleted. An event that changes none of them (a description, the operator's own
    bookkeeping annotations, a stage history entry) changes no Deployment's sources."""
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    artifact = spec.get("artifact") or {}
    conditions = {
        c.get("type"): (c.get("status"), c.get("reason"), c.get("message"))
        for c in status.get("conditions") or []
        if c.get("type") in (READY, "Stalled")
    }
    return (
        spec.get("model"),
        spec.get("version"),
        spec.get("stage"),
        artifact.get("uri"),
        artifact.get("digest"),
        status.get("artifactBytes"),
        conditions.get(READY),
        conditions.get("Stalled"),
        bool((body.get("metadata") or {}).get("deletionTimestamp")),
    )


def _is_ready(mv: ModelVersion) -> bool:
    return is_true(mv.status.conditions, READY) and mv.metadata.deletion_timestamp is None


def read_sources(kube: Kube, dep: Deployment, *, versions_of: VersionsOf | None = None) -> Sources:
    namespace = dep.metadata.namespace or ""
    model = dep.spec.model
    versions = versions_of_model(kube, namespace, model, versions_of=versions_of)
    ready = {mv.spec.version: _served(mv) for mv in versions if _is_ready(mv)}
    by_version = {mv.spec.version: mv for mv in versions}
    sources = Sources(desired=None, ready=ready)
    if kube.get(API_VERSION, "Model", model, namespace) is None:
        sources.problem = f"Model {model} does not exist in namespace {namespace}: create it"
        sources.stalled = True
    elif dep.spec.version is not None:
        _pick(sources, by_version.get(dep.spec.version), f"version {dep.spec.version}", model)
    elif dep.spec.follow_stage is not None:
        stage = dep.spec.follow_stage
        holders = sorted(
            (mv for mv in versions if mv.spec.stage == stage),
            key=lambda mv: Version.parse(mv.spec.version),
        )
        if not holders:
            sources.problem = (
                f"no version of {model} is in stage {stage}: promote one "
                f"(kubectl mlops promote {model} VERSION --stage {stage})"
            )
            sources.stalled = True
        else:
            _pick(sources, holders[-1], f"the {stage} version {holders[-1].spec.version}", model)
    elif dep.spec.strategy.ab_test is not None:
        variants = dep.spec.strategy.ab_test.variants
        for variant in variants:
            _pick(sources, by_version.get(variant.version), f"A/B arm {variant.version}", model)
            if sources.problem is not None:
                break
        if sources.problem is None:
            sources.desired = variants[0].version  # the control
            sources.variants = {v.version: v.weight for v in variants}
    else:
        sources.problem = "this strategy's versions are not served by this operator version"
        sources.stalled = True
    mirror = dep.spec.strategy.mirror
    if mirror is not None:
        if mirror.version in ready:
            sources.mirror = mirror.version
        else:
            sources.mirror_problem = f"mirror version {mirror.version} is not a Ready ModelVersion"
    return sources


def _pick(sources: Sources, mv: ModelVersion | None, what: str, model: str) -> None:
    if mv is None:
        sources.problem = f"{what} of {model} is not registered: no such ModelVersion"
        sources.stalled = True
    elif not _is_ready(mv):
        condition = mv.status.condition(READY)
        why = f" ({condition.reason}: {condition.message})" if condition else ""
        sources.problem = f"{what} of {model} is not Ready{why}"
        stalled = mv.status.condition("Stalled")
        sources.stalled = stalled is not None and stalled.status == "True"
    else:
        sources.desired = mv.spec.version
