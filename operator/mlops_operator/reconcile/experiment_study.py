"""The study settings of an Experiment, all from its spec."""

from __future__ import annotations

from mlops_operator.api.experiment import Experiment
from mlops_operator.search.strategies import PrunerPlan, grid_size, search_distributions
from mlops_operator.search.study import StudySettings


def study_settings(experiment: Experiment) -> StudySettings:
    spec = experiment.spec
    epochs = spec.trial_template.training.epochs
    for parameter in spec.search_space:
        if parameter.name == "training.epochs" and parameter.high is not None:
            epochs = max(epochs, int(parameter.high))
    return StudySettings(
        # hyperband assigns brackets from the study name: the same search, the same brackets
        name=f"{experiment.metadata.namespace}/{experiment.metadata.name}",
        direction=spec.objective.direction,
        strategy=spec.strategy,
        seed=spec.seed,
        distributions=search_distributions(spec.search_space),
        pruner=PrunerPlan(pruner=spec.pruner, epochs=epochs),
    )


def search_capacity(settings: StudySettings) -> int | None:
    """How many distinct trials the space holds, for grid search; None otherwise."""
    if settings.strategy != "grid":
        return None
    return grid_size(settings.distributions)
