"""The proof that the rebuilt study is optuna's own: for every strategy, a seeded search whose
study is rebuilt from the persisted trial records before every ask gives the same parameters,
in the same order, as one in-memory optuna study with the same seed and the same results.

Trials run in parallel on a fixed schedule (trial n takes a few ticks, by its number), so the
asks and tells interleave as they do in the cluster."""

from __future__ import annotations

import math
from dataclasses import replace

import optuna
import pytest
from optuna.trial import TrialState

from mlops_operator.api.search_space import Pruner, SearchParameter
from mlops_operator.search.record import TrialPlan, TrialRecord
from mlops_operator.search.strategies import (
    PrunerPlan,
    build_pruner,
    build_sampler,
    search_distributions,
    study_direction,
)
from mlops_operator.search.study import SearchStudy, StudySettings
from mlops_operator.search.study_cache import StudyCache

pytestmark = pytest.mark.unit

SPACE = [
    SearchParameter(
        name="model.optimizer.learningRate", type="float", low=1e-4, high=0.1, log=True
    ),
    SearchParameter(name="model.dropout", type="float", low=0.0, high=0.5),
    SearchParameter(name="training.batchSize", type="int", low=8, high=64, step=8),
]
GRID_SPACE = [
    SearchParameter(
        name="model.optimizer.learningRate", type="float", low=0.01, high=0.05, step=0.01
    ),
    SearchParameter(name="model.dropout", type="float", low=0.0, high=0.2, step=0.1),
    SearchParameter(name="model.optimizer.name", type="categorical", values=["adam", "sgd"]),
]
EPOCHS = 4


def objective(params: dict[str, object]) -> float:
    """A cheap stand-in for training: the final validation accuracy of a trial."""
    lr = float(params["model.optimizer.learningRate"])  # type: ignore[arg-type]
    dropout = float(params["model.dropout"])  # type: ignore[arg-type]
    batch = params.get("training.batchSize", 32)
    bonus = 0.01 if params.get("model.optimizer.name") == "adam" else 0.0
    return (
        0.9
        - 0.05 * (math.log10(lr) + 2.0) ** 2
        - 0.2 * (dropout - 0.2) ** 2
        - float(batch) / 5000
        + bonus
    )  # type: ignore[arg-type]


def curve(params: dict[str, object], epoch: int) -> float:
    """The objective per epoch, approaching the final value."""
    return objective(params) * (1 - 0.5**epoch)


def duration(number: int) -> int:
    return 1 + (number * 7) % 4


def settings(
    strategy: str, space: list[SearchParameter], pruner: Pruner | None = None
) -> StudySettings:
    return StudySettings(
        name="search",
        direction="maximize",
        strategy=strategy,  # type: ignore[arg-type]
        seed=13,
        distributions=search_distributions(space),
        pruner=PrunerPlan(pruner=pruner, epochs=EPOCHS),
    )


class InMemorySearch:
    """The reference: one optuna study that lives for the whole search."""

    def __init__(self, config: StudySettings) -> None:
        self.config = config
        self.study = optuna.create_study(
            study_name=config.name,
            sampler=build_sampler(
                config.strategy, seed=config.seed, distributions=config.distributions
            ),
            pruner=build_pruner(config.pruner),
            direction=study_direction(config.direction),
        )
        self.trials: dict[int, optuna.Trial] = {}

    def ask(self, count: int) -> list[dict[str, object]]:
        asked = []
        for _ in range(count):
            trial = self.study.ask(dict(self.config.distributions))
            self.trials[trial.number] = trial
            asked.append(dict(trial.params))
        return asked

    def report_and_check(self, number: int, epoch: int, value: float) -> bool:
        trial = self.trials[number]
        trial.report(value, epoch)
        return trial.should_prune()

    def tell(self, number: int, value: float | None, *, pruned: bool) -> None:
        if pruned:
            self.study.tell(self.trials[number], state=TrialState.PRUNED)
        else:
            self.study.tell(self.trials[number], value)


class RebuiltSearch:
    """The operator's way: nothing but the trial records survives between two steps."""

    def __init__(self, config: StudySettings) -> None:
        self.config = config
        self.records: dict[int, TrialRecord] = {}
        self.pending: list[int] = []
        self.pruned: dict[int, int] = {}

    def _study(self) -> SearchStudy:
        study = SearchStudy(self.config, list(self.records.values()))
        assert study.exact, study.drift
        return study

    def ask(self, count: int) -> list[dict[str, object]]:
        finished = [r for r in self.records.values() if r.finished_for_study]
        plans: list[TrialPlan] = self._study().ask(count, finished=finished)
        for plan in plans:
            # what the cluster keeps: the annotation, read back
            plan = TrialPlan.from_annotation(plan.to_annotation())
            self.records[plan.number] = TrialRecord(plan=plan, state="running")
        return [dict(plan.params) for plan in plans]

    def check_all(self, reports: dict[int, tuple[int, float]]) -> set[int]:
        for number, (epoch, value) in reports.items():
            record = self.records[number]
            self.records[number] = replace(
                record, intermediate={**record.intermediate, epoch: value}
            )
        running = [self.records[number] for number in reports]
        pruned = set()
        for check in self._study().check_pruning(running):
            record = self.records[check.number]
            if check.pruner_attrs is not None:
                record = replace(record, pruner_attrs=check.pruner_attrs)
            if check.prune:
                record = replace(record, state="pruned", value=check.value)
                pruned.add(check.number)
            self.records[check.number] = record
        return pruned

    def tell(self, number: int, value: float | None, *, pruned: bool) -> None:
        if not pruned:
            self.records[number] = replace(self.records[number], state="succeeded", value=value)


class CachedSearch(RebuiltSearch):
    """The operator's way with its study cache: each step takes the study the last one kept."""

    def __init__(self, config: StudySettings) -> None:
        super().__init__(config)
        self.cache = StudyCache()
        self._taken: SearchStudy | None = None

    def _study(self) -> SearchStudy:
        self._keep()
        self._taken = self.cache.take("uid-1", self.config, list(self.records.values()))
        assert self._taken.exact, self._taken.drift
        return self._taken

    def _keep(self) -> None:
        if self._taken is not None:
            self.cache.keep("uid-1", self._taken, trials=len(self.records))
            self._taken = None


def run_search(
    search: InMemorySearch | RebuiltSearch, *, trials: int, parallel: int, prune: bool
) -> list[tuple[str, dict[str, object]]]:
    """Drive a search on the fixed schedule; the sequence of (event, params) it produced."""
    params: dict[int, dict[str, object]] = {}
    epoch_of: dict[int, int] = {}
    events: list[tuple[str, dict[str, object]]] = []
    created = 0

    def fill() -> None:
        nonlocal created
        want = min(parallel - len(epoch_of), trials - created)
        if want > 0:
            for asked in search.ask(want):
                params[created] = asked
                epoch_of[created] = 0
                events.append(("ask", asked))
                created += 1

    fill()
    while epoch_of:
        # one tick: every running trial trains one more epoch (slow trials every other tick)
        reports = {}
        for number in sorted(epoch_of):
            if duration(number) % 2 == 0 and created % 2 == 1 and epoch_of[number] % 2 == 0:
                continue
            epoch_of[number] += 1
            reports[number] = (epoch_of[number], curve(params[number], epoch_of[number]))
        pruned: set[int] = set()
        if prune:
            if isinstance(search, RebuiltSearch):
                pruned = search.check_all(reports)
            else:
                pruned = {n for n, (e, v) in reports.items() if search.report_and_check(n, e, v)}
        done = sorted(n for n in epoch_of if n in pruned or epoch_of[n] >= EPOCHS)
        for number in done:
            is_pruned = number in pruned
            value = None if is_pruned else curve(params[number], epoch_of[number])
            search.tell(number, value, pruned=is_pruned)
            events.append(("pruned" if is_pruned else "done", {"number": number}))
            del epoch_of[number]
        fill()
    return events


@pytest.mark.parametrize(
    ("strategy", "space", "trials"),
    [
        ("random", SPACE, 14),
        ("grid", GRID_SPACE, 14),
        ("bayesian", SPACE, 16),
        ("cmaes", SPACE, 18),
        ("quasi-random", SPACE, 14),
    ],
)
def test_rebuilt_study_asks_what_the_in_memory_study_asks(
    strategy: str, space: list[SearchParameter], trials: int
) -> None:
    config = settings(strategy, space)
    reference = run_search(InMemorySearch(config), trials=trials, parallel=3, prune=False)
    rebuilt = run_search(RebuiltSearch(config), trials=trials, parallel=3, prune=False)
    asked = [params for event, params in reference if event == "ask"]
    assert len(asked) == trials
    assert len({tuple(sorted(p.items())) for p in asked}) > trials // 2  # it explores
    assert rebuilt == reference


@pytest.mark.parametrize(
    ("strategy", "pruner"),
    [
        ("bayesian", Pruner(type="median", startup_trials=2, warmup_epochs=1)),
        ("random", Pruner(type="successive-halving", min_epochs=1, reduction_factor=2)),
        ("bayesian", Pruner(type="hyperband", min_epochs=1, reduction_factor=2)),
        ("cmaes", Pruner(type="median", startup_trials=3, warmup_epochs=0)),
    ],
)
def test_rebuilt_study_prunes_what_the_in_memory_study_prunes(
    strategy: str, pruner: Pruner
) -> None:
    config = settings(strategy, SPACE, pruner)
    reference = run_search(InMemorySearch(config), trials=14, parallel=3, prune=True)
    rebuilt = run_search(RebuiltSearch(config), trials=14, parallel=3, prune=True)
    assert any(event == "pruned" for event, _ in reference), "the schedule should prune"
    assert rebuilt == reference


@pytest.mark.parametrize(
    ("strategy", "pruner"),
    [
        ("cmaes", None),
        ("grid", None),
        ("bayesian", Pruner(type="hyperband", min_epochs=1, reduction_factor=2)),
    ],
)
def test_the_kept_study_asks_and_prunes_what_a_replay_does_with_few_replays(
    strategy: str, pruner: Pruner | None
) -> None:
    config = settings(strategy, GRID_SPACE if strategy == "grid" else SPACE, pruner)
    prune = pruner is not None
    reference = run_search(InMemorySearch(config), trials=14, parallel=3, prune=prune)
    cached = CachedSearch(config)
    assert run_search(cached, trials=14, parallel=3, prune=prune) == reference
    assert cached.cache.replays == 1  # the first step; every later one reused the kept study


def test_a_kept_study_is_replayed_again_when_the_trials_differ() -> None:
    config = settings("random", SPACE)
    search = CachedSearch(config)
    search.ask(2)
    search._keep()
    first = dict(search.records)
    del search.records[1]  # deleted by hand: the count differs
    search._study()
    assert search.cache.replays == 2
    search._keep()
    search.records = first
    plan = first[1].plan
    other = {**plan.params, "model.dropout": 0.123}
    search.records[1] = replace(first[1], plan=plan.model_copy(update={"params": other}))
    # the same count, other parameters: replayed (and found to have drifted)
    assert not search.cache.take("uid-1", config, list(search.records.values())).exact
    assert search.cache.replays == 3


def test_adding_finished_trials_to_a_fresh_study_repeats_the_seeded_start() -> None:
    """Why the study is replayed (optuna/optuna#3255): the naive rebuild asks again for the
    points the search began with."""
    config = settings("random", SPACE)
    live = InMemorySearch(config)
    first = live.ask(2)
    naive = optuna.create_study(
        sampler=build_sampler("random", seed=13, distributions=config.distributions)
    )
    for params in first:
        naive.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dict(config.distributions), value=0.5
            )
        )
    again = naive.ask(dict(config.distributions)).params
    assert again == first[0]
    assert live.ask(1)[0] != first[0]
