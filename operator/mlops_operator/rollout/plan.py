"""What a rollout decision reads (``Observed``) and returns (``Plan``), and the requests a person
can make of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from mlops_operator.api.deployment_status import AnalysisRun, DeploymentPhase, RolloutState
from mlops_operator.api.rollout import RolloutStrategy
from mlops_operator.rollout.measure import RouterTotals

RolloutAction = Literal["promote", "abort", "retry"]
ConditionState = Literal["Ready", "Progressing", "Waiting", "Stalled"]

#: how often a rollout waiting on pods or on traffic looks again (watch events come sooner)
POLL_SECONDS: Final = 1.0


@dataclass(frozen=True)
class RolloutRequest:
    """A one-shot request from the ``mlops.dev/rollout-request`` annotation."""

    action: RolloutAction
    token: str


@dataclass(frozen=True)
class Observed:
    """What the reconciler read, reduced to what the decision needs."""

    #: the version the spec asks for (explicit, or the one in the followed stage); None when it
    #: cannot be served now, with ``problem`` saying why
    desired: str | None
    problem: str | None
    #: the problem needs a person (a missing Model or version) rather than time
    problem_is_stalled: bool
    stable: str | None
    state: RolloutState
    strategy: RolloutStrategy
    paused: bool
    request: RolloutRequest | None
    #: versions whose server pods are all ready and listed by their Service
    ready: frozenset[str]
    totals: RouterTotals | None
    metrics_error: str | None
    progress_deadline_seconds: int
    now: datetime
    #: versions whose server Deployment reports every pod ready, listed by their Service or
    #: not yet (no watch event tells when an EndpointSlice catches up: that wait is polled)
    pods_ready: frozenset[str] = frozenset()


@dataclass
class Plan:
    """What to apply and report."""

    weights: dict[str, int]
    stable: str | None
    canary: str | None
    state: RolloutState
    phase: DeploymentPhase
    condition: ConditionState
    reason: str
    message: str
    analysis: AnalysisRun | None = None
    events: list[tuple[Literal["Normal", "Warning"], str, str]] = field(default_factory=list)
    requeue_after: float | None = None

    @property
    def served(self) -> list[str]:
        """Versions whose pods must run: every one with a weight (0 included)."""
        return list(self.weights)
