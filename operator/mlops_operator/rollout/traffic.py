"""Weights per version for a rollout's state, and the versions that drain once they lose theirs."""

from __future__ import annotations

from datetime import datetime

from mlops_operator.api.deployment_status import DrainingVersion, RolloutState
from mlops_operator.api.rollout import CanaryStrategy, RolloutStrategy
from mlops_operator.rollout.plan import Observed


def canary_of(strategy: RolloutStrategy) -> CanaryStrategy | None:
    if strategy.type != "canary":
        return None
    return strategy.canary or CanaryStrategy()


def seconds_since(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else (now - since).total_seconds()


def drain(state: RolloutState, version: str | None, now: datetime, keep: set[str]) -> None:
    if version is None or version in keep or any(d.version == version for d in state.draining):
        return
    state.draining.append(DrainingVersion(version=version, since=now))


def steady_weights(stable: str | None) -> dict[str, int]:
    return {stable: 100} if stable else {}


def step_weights(stable: str | None, target: str, weight: int) -> dict[str, int]:
    if stable is None or weight >= 100:
        return {target: 100}
    return {stable: 100 - weight, target: weight}


def current_weights(o: Observed, state: RolloutState) -> dict[str, int]:
    canary = canary_of(o.strategy)
    if state.target and canary is not None and state.step is not None:
        return step_weights(o.stable, state.target, canary.step_weights[state.step])
    return steady_weights(o.stable)
