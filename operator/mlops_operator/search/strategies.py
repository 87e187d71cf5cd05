"""The search space as optuna distributions, and each strategy's sampler and pruner.

Built the same way on every reconcile from the Experiment's spec alone, so that a study rebuilt
from the trials (``study.py``) behaves as one that had lived in memory all along.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
)
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    GridSampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from mlops_operator.api.experiment import Direction, SearchStrategy
from mlops_operator.api.search_space import Pruner, SearchParameter

# The operator reports trials through status and Events, not optuna's per-trial log lines.
optuna.logging.set_verbosity(logging.WARNING)


def distribution_of(parameter: SearchParameter) -> BaseDistribution:
    """One search dimension as an optuna distribution; categorical choices stay text."""
    if parameter.type == "categorical":
        return CategoricalDistribution(list(parameter.values or []))
    low, high = float(parameter.low or 0.0), float(parameter.high or 0.0)
    if parameter.type == "int":
        step = max(1, round(parameter.step)) if parameter.step else 1
        return IntDistribution(int(low), int(high), log=parameter.log, step=step)
    return FloatDistribution(low, high, log=parameter.log, step=parameter.step)


def search_distributions(space: list[SearchParameter]) -> dict[str, BaseDistribution]:
    """Name → distribution, in the order the search space lists them (the order parameters
    are suggested in, which seeded samplers depend on)."""
    return {parameter.name: distribution_of(parameter) for parameter in space}


def grid_of(distribution: BaseDistribution) -> list[Any]:
    """Every point of a finite dimension (grid search)."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution):
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        count = math.floor((distribution.high - distribution.low) / distribution.step + 1e-9)
        low, step = distribution.low, distribution.step
        return [round(low + index * step, 12) for index in range(count + 1)]
    raise ValueError("grid search needs a step for every float parameter")


def grid_size(distributions: dict[str, BaseDistribution]) -> int:
    return math.prod(len(grid_of(item)) for item in distributions.values())


class AskTellGridSampler(GridSampler):
    """GridSampler for ask-and-tell: optuna's stops an ``optimize`` loop once the grid is
    covered (which raises outside one); here the search's own limits end it."""

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Any,
    ) -> None:
        return None


def build_sampler(
    strategy: SearchStrategy, *, seed: int | None, distributions: dict[str, BaseDistribution]
) -> BaseSampler:
    """The sampler of ``strategy``; the same arguments give a sampler in the same state."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if strategy == "random":
            return RandomSampler(seed=seed)
        if strategy == "grid":
            space = {name: grid_of(item) for name, item in distributions.items()}
            return AskTellGridSampler(space, seed=seed)
        if strategy == "cmaes":
            return CmaEsSampler(
                seed=seed,
                warn_independent_sampling=False,
                independent_sampler=RandomSampler(seed=seed),
            )
        if strategy == "quasi-random":
            return QMCSampler(
                qmc_type="sobol",
                scramble=True,
                seed=seed,
                warn_independent_sampling=False,
                warn_asynchronous_seeding=False,
            )
        return TPESampler(seed=seed)


@dataclass(frozen=True)
class PrunerPlan:
    """The pruner settings plus the trials' epoch count (hyperband's maximum resource)."""

    pruner: Pruner | None
    epochs: int


def build_pruner(plan: PrunerPlan) -> BasePruner:
    pruner = plan.pruner
    if pruner is None:
        return NopPruner()
    if pruner.type == "median":
        return MedianPruner(
            n_startup_trials=pruner.startup_trials, n_warmup_steps=pruner.warmup_epochs
        )
    if pruner.type == "successive-halving":
        return SuccessiveHalvingPruner(
            min_resource=pruner.min_epochs,
            reduction_factor=pruner.reduction_factor,
            bootstrap_count=0,
        )
    return HyperbandPruner(
        min_resource=pruner.min_epochs,
        max_resource=max(plan.epochs, pruner.min_epochs),
        reduction_factor=pruner.reduction_factor,
    )


def study_direction(direction: Direction) -> optuna.study.StudyDirection:
    return (
        optuna.study.StudyDirection.MAXIMIZE
        if direction == "maximize"
        else optuna.study.StudyDirection.MINIMIZE
    )
