"""What the operator's metrics report about the objects it watches (pure).

Each watched object's status is read once into a small typed record; a :class:`ResourceBook`
keeps the latest record per object, and the metrics adapter (``metrics.py``) turns the book into
gauges at scrape time, so a deleted object's series disappear with it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from pydantic import ValidationError

from mlops_operator.api.deployment_status import (
    AbDecision,
    DeploymentPhase,
    DeploymentStatus,
    IncreaseEstimate,
)
from mlops_operator.api.experiment import ExperimentStatus
from mlops_operator.api.training_job import TrainingJobStatus, TrainingPhase

TrialState = Literal["created", "running", "succeeded", "failed", "pruned"]
TRIAL_STATES: Final[tuple[TrialState, ...]] = (
    "created",
    "running",
    "succeeded",
    "failed",
    "pruned",
)
#: every phase a Deployment (mlops.dev) can be in, as its status type declares them
DEPLOYMENT_PHASES: Final[tuple[DeploymentPhase, ...]] = get_args(DeploymentPhase)
AB_DECISIONS: Final[tuple[AbDecision, ...]] = get_args(AbDecision)
UNKNOWN: Final = "Unknown"


@dataclass(frozen=True)
class TrainingState:
    namespace: str
    name: str
    model: str
    phase: TrainingPhase | Literal["Unknown"]


@dataclass(frozen=True)
class ExperimentState:
    namespace: str
    name: str
    max_trials: int
    trials: tuple[tuple[TrialState, int], ...]


@dataclass(frozen=True)
class DriftScore:
    version: str
    feature: str
    method: str
    score: float


@dataclass(frozen=True)
class AccuracyEstimate:
    """A served version's estimated accuracy with its interval, and its test accuracy."""

    version: str
    value: float
    lower: float
    upper: float
    test: float | None


@dataclass(frozen=True)
class AbArm:
    """One A/B arm's figures: samples, value and its interval, p-value against the control."""

    version: str
    samples: int
    value: float | None
    lower: float | None
    upper: float | None
    p_value: float | None


@dataclass(frozen=True)
class AbVerdict:
    metric: str
    decision: AbDecision
    p_value: float | None
    arms: tuple[AbArm, ...]


@dataclass(frozen=True)
class CanaryEstimate:
    """The sequential canary's latest "new minus stable" on one comparison."""

    comparison: Literal["error_rate", "slow_share"]
    increase: float
    lower: float
    upper: float
    tolerance: float


@dataclass(frozen=True)
class DeploymentState:
    namespace: str
    name: str
    phase: DeploymentPhase | None
    canary_step: int | None
    traffic: tuple[tuple[str, int], ...]
    drift: tuple[DriftScore, ...]
    ab_test: AbVerdict | None = None
    canary_estimates: tuple[CanaryEstimate, ...] = ()
    performance: tuple[AccuracyEstimate, ...] = ()


ResourceState = TrainingState | ExperimentState | DeploymentState
Key = tuple[str, str, str]  # kind, namespace, name


def _meta(body: Mapping[str, Any]) -> tuple[str, str]:
    metadata = body.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def training_state(body: Mapping[str, Any]) -> TrainingState:
    namespace, name = _meta(body)
    try:
        status = TrainingJobStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = TrainingJobStatus()
    model = str((body.get("spec") or {}).get("modelName") or "")
    return TrainingState(namespace, name, model, status.phase or UNKNOWN)


def experiment_state(body: Mapping[str, Any]) -> ExperimentState:
    namespace, name = _meta(body)
    try:
        status = ExperimentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = ExperimentStatus()
    max_trials = (body.get("spec") or {}).get("maxTrials")
    counts = (
        status.trials_created,
        status.trials_running,
        status.trials_succeeded,
        status.trials_failed,
        status.trials_pruned,
    )
    return ExperimentState(
        namespace,
        name,
        max_trials=int(max_trials) if isinstance(max_trials, int) else 0,
        trials=tuple(zip(TRIAL_STATES, counts, strict=True)),
    )


def deployment_state(body: Mapping[str, Any]) -> DeploymentState:
    namespace, name = _meta(body)
    try:
        status = DeploymentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = DeploymentStatus()
    return DeploymentState(
        namespace,
        name,
        phase=status.phase,
        canary_step=status.current_step,
        traffic=tuple((t.version, t.weight) for t in status.traffic),
        drift=tuple(
            DriftScore(d.version, d.feature or "", d.method, d.score)
            for d in status.drift
            if d.score is not None  # no score yet: too few inputs scored
        ),
        performance=tuple(
            AccuracyEstimate(
                p.version, p.accuracy.value, p.accuracy.lower, p.accuracy.upper, p.test_accuracy
            )
            for p in status.performance
            if p.accuracy is not None  # no estimate yet, or a version without calibration
        ),
        ab_test=_ab_verdict(status),
        canary_estimates=_canary_estimates(status),
    )


def _ab_verdict(status: DeploymentStatus) -> AbVerdict | None:
    ab = status.ab_test
    if ab is None:
        return None
    arms = tuple(
        AbArm(a.version, a.samples, a.value, a.ci_lower, a.ci_upper, a.p_value) for a in ab.arms
    )
    return AbVerdict(ab.metric, ab.decision, ab.p_value, arms)


def _canary_estimates(status: DeploymentStatus) -> tuple[CanaryEstimate, ...]:
    """The latest sequential look of the rollout running now (none once it has ended)."""
    if status.canary_version is None or not status.analysis:
        return ()
    found = status.analysis[-1].sequential
    if found is None:
        return ()
    pairs: tuple[tuple[Literal["error_rate", "slow_share"], IncreaseEstimate | None], ...] = (
        ("error_rate", found.error_rate),
        ("slow_share", found.slow_share),
    )
    return tuple(
        CanaryEstimate(name, e.increase, e.lower, e.upper, e.tolerance)
        for name, e in pairs
        if e is not None
    )


def newly_failed(before: ResourceState | None, after: ResourceState | None) -> bool:
    """A TrainingJob seen running (or pending) before is Failed now: count one failure.

    Runs that are already Failed when first seen (at operator start) are not counted again.
    """
    return (
        isinstance(before, TrainingState)
        and isinstance(after, TrainingState)
        and before.phase != "Failed"
        and after.phase == "Failed"
    )


class ResourceBook:
    """The latest state of each watched object (thread-safe; handlers run in threads)."""

    def __init__(self) -> None:
        self._states: dict[Key, ResourceState] = {}
        self._lock = threading.Lock()

    def observe(
        self, kind: str, state: ResourceState | None, *, namespace: str, name: str
    ) -> ResourceState | None:
        """Record (or, with ``None``, forget) an object's state; return the one it replaces."""
        key = (kind, namespace, name)
        with self._lock:
            before = self._states.pop(key, None)
            if state is not None:
                self._states[key] = state
        return before

    def states(self) -> list[ResourceState]:
        with self._lock:
            return list(self._states.values())
