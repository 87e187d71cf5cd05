"""The optuna study, rebuilt from the trials on every reconcile.

Rebuilding a study by adding the finished trials to a fresh one (``add_trial``) breaks the
samplers that keep state: a seeded sampler starts its random stream again and repeats its first
points (optuna/optuna#3255), CMA-ES keeps its generation and optimizer in trial system
attributes, QMC its position in the study's, the grid sampler its visited points.

So the study is *replayed*: a fresh study with a freshly seeded sampler is asked for trial 0,
1, 2, … in order, and before each ask it is told exactly the trials that the live search had
told it at that moment (``TrialPlan.toldBefore``), with the same values, intermediate values
and states. The sampler then walks through the very same states as the one that planned the
trials, and the next ask gives what an in-memory study that never went away would give. Each
replayed ask is checked against the persisted parameters; a mismatch (a trial deleted by hand,
another optuna version) falls back to adding the recorded trials as they are, with the sampler
seeded past them, and is reported as drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from optuna.storages import InMemoryStorage
from optuna.trial import Trial, TrialState, create_trial

from mlops_operator.api.experiment import Direction, SearchStrategy
from mlops_operator.search.record import (
    AttrValue,
    ParamValue,
    TrialPlan,
    TrialRecord,
    small_system_attrs,
)
from mlops_operator.search.strategies import (
    PrunerPlan,
    build_pruner,
    build_sampler,
    study_direction,
)


@dataclass(frozen=True)
class StudySettings:
    """Everything that shapes the study, all from the Experiment's spec."""

    #: the study name (hyperband assigns brackets from it and the trial number)
    name: str
    direction: Direction
    strategy: SearchStrategy
    seed: int | None
    distributions: dict[str, BaseDistribution]
    pruner: PrunerPlan


@dataclass(frozen=True)
class PruneCheck:
    """What the pruner said about one running trial at its latest epoch."""

    number: int
    epoch: int
    value: float
    prune: bool
    intermediate: dict[int, float]
    #: the pruner's system attributes of the trial after the check, when they changed
    pruner_attrs: dict[str, AttrValue] | None = None


@dataclass
class SearchStudy:
    """A study replayed from ``records``; ask it for new trials and check running ones."""

    settings: StudySettings
    records: Sequence[TrialRecord]
    study: optuna.Study = field(init=False)
    drift: list[str] = field(default_factory=list, init=False)
    _trials: dict[int, Trial] = field(default_factory=dict, init=False)
    _told: list[int] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.study = self._new_study(seed=self.settings.seed)
        by_number = {record.number: record for record in self.records}
        for record in sorted(self.records, key=lambda item: item.number):
            for number in record.plan.told_before:
                if not self._tell(by_number.get(number)):
                    self.drift.append(f"trial {number} was told before {record.number} but is gone")
            trial = self.study.ask(dict(self.settings.distributions))
            if trial.number != record.number or trial.params != record.plan.params:
                self.drift.append(
                    f"trial {record.number}: the rebuilt study asked for {trial.params} "
                    f"(trial {trial.number}) but the trial ran {record.plan.params}"
                )
                break
            self._trials[record.number] = trial
            self._restore_pruner_attrs(trial, record.pruner_attrs)
        if self.drift:
            self._add_as_recorded()

    def _new_study(self, *, seed: int | None) -> optuna.Study:
        settings = self.settings
        return optuna.create_study(
            storage=InMemoryStorage(),
            study_name=settings.name,
            sampler=build_sampler(
                settings.strategy, seed=seed, distributions=settings.distributions
            ),
            pruner=build_pruner(settings.pruner),
            direction=study_direction(settings.direction),
        )

    def _restore_pruner_attrs(self, trial: Trial, attrs: dict[str, AttrValue]) -> None:
        for key, value in attrs.items():
            self.study._storage.set_trial_system_attr(trial._trial_id, key, value)

    def _report(self, trial: Trial, values: dict[int, float]) -> None:
        reported = self.study._storage.get_trial(trial._trial_id).intermediate_values
        for step in sorted(values):
            if step not in reported:
                trial.report(values[step], step)

    def _tell(self, record: TrialRecord | None) -> bool:
        if record is None or not record.finished_for_study or record.number not in self._trials:
            return False
        if record.number in self._told:
            return True
        trial = self._trials[record.number]
        self._report(trial, record.intermediate)
        if record.state == "succeeded" and record.value is not None:
            self.study.tell(trial, record.value)
        elif record.state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)
        self._told.append(record.number)
        return True

    def _add_as_recorded(self) -> None:
        """The fallback: the trials as they are, and a sampler seeded past them."""
        seed = None if self.settings.seed is None else self.settings.seed + len(self.records)
        self.study = self._new_study(seed=seed)
        self._trials.clear()
        self._told.clear()
        for record in sorted(self.records, key=lambda item: item.number):
            distributions = {
                name: json_to_distribution(text) for name, text in record.plan.distributions.items()
            }
            state = {
                "succeeded": TrialState.COMPLETE,
                "pruned": TrialState.PRUNED,
                "failed": TrialState.FAIL,
            }.get(record.state, TrialState.FAIL)
            value = record.value if state == TrialState.COMPLETE else None
            self.study.add_trial(
                create_trial(
                    state=state,
                    value=value,
                    params=dict(record.plan.params),
                    distributions=distributions,
                    intermediate_values=dict(record.intermediate),
                    system_attrs=dict(record.pruner_attrs),
                )
            )
            self._told.append(record.number)

    def holds(self, settings: StudySettings, records: Sequence[TrialRecord]) -> bool:
        """Whether this study is the one ``records`` under ``settings`` would replay to: the
        same settings, and exactly these trial numbers asked with these parameters."""
        if settings != self.settings or self.drift:
            return False
        asked = {number: dict(trial.params) for number, trial in self._trials.items()}
        return asked == {record.number: dict(record.plan.params) for record in records}

    @property
    def exact(self) -> bool:
        """Whether the replay matched every recorded trial (no drift)."""
        return not self.drift

    def check_pruning(self, running: Sequence[TrialRecord]) -> list[PruneCheck]:
        """Report each running trial's new epochs and ask the pruner about it."""
        checks = []
        for record in sorted(running, key=lambda item: item.number):
            trial = self._trials.get(record.number)
            if trial is None or not record.intermediate:
                continue
            before = self.study._storage.get_trial(trial._trial_id).system_attrs
            self._report(trial, record.intermediate)
            prune = trial.should_prune()
            after = self.study._storage.get_trial(trial._trial_id).system_attrs
            changed = {key: value for key, value in after.items() if before.get(key) != value}
            attrs = small_system_attrs({**record.pruner_attrs, **changed}) if changed else None
            last = max(record.intermediate)
            checks.append(
                PruneCheck(
                    number=record.number,
                    epoch=last,
                    value=record.intermediate[last],
                    prune=prune,
                    intermediate=dict(record.intermediate),
                    pruner_attrs=attrs,
                )
            )
        return checks

    def ask(self, count: int, *, finished: Sequence[TrialRecord]) -> list[TrialPlan]:
        """Tell the study the ``finished`` trials it has not been told (by number), then ask
        for ``count`` new trials; their plans are what to persist on them."""
        told_now = []
        for record in sorted(finished, key=lambda item: item.number):
            if record.number not in self._told and self._tell(record):
                told_now.append(record.number)
        plans = []
        # after a fallback the study's numbering may lag the trials' (one was deleted)
        next_number = max((record.number + 1 for record in self.records), default=0)
        for index in range(count):
            trial = self.study.ask(dict(self.settings.distributions))
            number = max(trial.number, next_number + index)
            frozen = self.study._storage.get_trial(trial._trial_id)
            params: dict[str, ParamValue] = dict(frozen.params)
            plans.append(
                TrialPlan(
                    number=number,
                    params=params,
                    distributions={
                        name: distribution_to_json(item)
                        for name, item in frozen.distributions.items()
                    },
                    told_before=told_now if index == 0 else [],
                    system_attrs=small_system_attrs(dict(frozen.system_attrs)),
                )
            )
            self._trials[number] = trial
        return plans
