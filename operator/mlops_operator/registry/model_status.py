"""A Model's status, aggregated from its ModelVersions (a pure reducer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mlops_operator.api.conditions import READY, RECONCILING, STALLED, set_condition
from mlops_operator.api.model import STAGING_VERSIONS_MAX, RegisteredModelStatus
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.registry.semver import InvalidVersionError, Version

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _semver(version: ModelVersion) -> Version:
    try:
        return Version.parse(version.spec.version)
    except InvalidVersionError:
        return Version(0, 0, 0, ("invalid",))


def production_version(versions: Sequence[ModelVersion]) -> ModelVersion | None:
    """The version serving as production: the one promoted last among those in production.

    Normally there is exactly one. If two are (a policy violation being repaired), the one
    promoted most recently wins, so traffic follows the newest promotion.
    """
    candidates = [v for v in versions if v.spec.stage == "production"]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.status.promoted_at or _EPOCH, _semver(v)))


def aggregate_model_status(
    versions: Sequence[ModelVersion],
    previous: RegisteredModelStatus,
    *,
    generation: int | None,
    now: datetime,
) -> RegisteredModelStatus:
    """Latest, production and staging versions and the count, with Ready/Reconciling/Stalled."""
    alive = [v for v in versions if v.metadata.deletion_timestamp is None]
    latest = max(alive, key=_semver, default=None)
    production = production_version(alive)
    staging = sorted((v for v in alive if v.spec.stage == "staging"), key=_semver, reverse=True)
    conditions = list(previous.conditions)
    message = (
        f"{len(alive)} version(s); production: {production.spec.version if production else 'none'}"
    )
    conditions = set_condition(
        conditions,
        condition_type=READY,
        status="True",
        reason="VersionsAggregated",
        message=message,
        observed_generation=generation,
        now=now,
    )
    for kind in (RECONCILING, STALLED):
        conditions = set_condition(
            conditions,
            condition_type=kind,
            status="False",
            reason="VersionsAggregated",
            observed_generation=generation,
            now=now,
        )
    return RegisteredModelStatus(
        observed_generation=generation,
        conditions=conditions,
        latest_version=latest.spec.version if latest else None,
        production_version=production.spec.version if production else None,
        staging_versions=[v.spec.version for v in staging][:STAGING_VERSIONS_MAX],
        version_count=len(alive),
    )
