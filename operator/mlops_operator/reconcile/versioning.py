"""Which version a run publishes (a pure decision, taken once when the run starts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.training_job import unregistered_version
from mlops_operator.registry.semver import next_version


class VersionConflictError(ValueError):
    """The version asked for is already registered."""


class VersionBook(Protocol):
    """Where the versions already taken for a model come from (API lists, or the operator's
    in-memory indexes fed by its watches)."""

    def taken(self, namespace: str, model: str, *, run: str) -> tuple[list[str], list[str]]:
        """(versions of the model's ModelVersions, versions other runs than ``run`` chose)."""
        ...


def choose_version(tj: TrainingJob, *, registered: Iterable[str], reserved: Iterable[str]) -> str:
    """The version of a new run of ``tj``.

    ``registered``: versions of the model's ModelVersions; ``reserved``: versions other runs of
    the same model have already chosen but not registered yet. An explicit
    ``registration.version`` must be free; otherwise the highest of both is bumped by
    ``registration.bump``. A run that registers nothing publishes under ``0.0.0-run-<hash>``.
    """
    registration = tj.spec.registration
    if not registration.enabled:
        return unregistered_version(tj)
    taken = set(registered) | set(reserved)
    if registration.version:
        if registration.version in taken:
            raise VersionConflictError(
                f"version {registration.version} of model {tj.spec.model_name!r} already "
                "exists or is being trained: set registration.version to a new version, or "
                "unset it to bump the highest one"
            )
        return registration.version
    return str(next_version(sorted(taken), registration.bump))
