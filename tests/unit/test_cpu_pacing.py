"""The explanation workers' CPU pacing: never above the share (beyond the burst), never far below
it when the work is continuous, and no pause at all with a share of a whole CPU."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from mlops_serving.cpu_pacing import CpuBudget, Pace, pause_after, start_pace, uncharged
from mlops_serving.explain_workers import CpuPacer
from mlops_serving.prediction_activity import BUSY_WINDOW_S, PredictionActivity
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit


@dataclass
class Worker:
    """A simulated single-threaded worker: work moves both clocks, idling and pausing the wall
    clock only. ``checks`` holds the clocks after every pause."""

    budget: CpuBudget
    wall: float = 100.0
    cpu: float = 3.0
    pace: Pace = field(init=False)
    checks: list[tuple[float, float]] = field(default_factory=list)
    paused: float = 0.0

    def __post_init__(self) -> None:
        self.pace = start_pace(self.budget, wall=self.wall, cpu=self.cpu)
        self.checks.append((self.wall, self.cpu))

    def work(self, seconds: float, *, oversleep: float = 0.0) -> None:
        self.wall += seconds
        self.cpu += seconds
        self.pace, pause = pause_after(self.budget, self.pace, wall=self.wall, cpu=self.cpu)
        assert pause >= 0
        self.wall += pause + (oversleep if pause else 0.0)
        self.paused += pause
        self.checks.append((self.wall, self.cpu))

    def idle(self, seconds: float) -> None:
        self.wall += seconds


def assert_within(worker: Worker) -> None:
    """From every check to every later one: CPU ≤ burst + share × elapsed."""
    budget = worker.budget
    for i, (wall_i, cpu_i) in enumerate(worker.checks):
        for wall_j, cpu_j in worker.checks[i + 1 :]:
            allowed = budget.burst + budget.share * (wall_j - wall_i)
            assert cpu_j - cpu_i <= allowed + 1e-9, (wall_i, wall_j, cpu_j - cpu_i, allowed)


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.9])
def test_continuous_work_is_held_to_the_share_and_not_below_it(share: float) -> None:
    worker = Worker(CpuBudget(share=share, burst=0.02))
    for _ in range(2000):
        worker.work(0.001)
    assert_within(worker)
    (wall_0, cpu_0), (wall_n, cpu_n) = worker.checks[0], worker.checks[-1]
    used = (cpu_n - cpu_0) / (wall_n - wall_0)
    assert share * 0.99 <= used <= share + 0.02 / (wall_n - wall_0) + 1e-9


def test_random_work_idle_stretches_and_late_wake_ups_never_break_the_cap() -> None:
    rng = random.Random(7)
    for share in (0.1, 0.25, 0.6):
        worker = Worker(CpuBudget(share=share, burst=0.02))
        for _ in range(400):
            if rng.random() < 0.1:
                worker.idle(rng.uniform(0, 5))  # a long idle stretch buys no more than the burst
            worker.work(rng.uniform(0.0001, 0.004), oversleep=rng.uniform(0, 0.002))
        assert_within(worker)


def test_after_an_idle_stretch_only_the_burst_runs_unpaced() -> None:
    budget = CpuBudget(share=0.25, burst=0.02)
    worker = Worker(budget)
    worker.idle(3600)
    unpaced = 0.0
    while worker.paused == 0:
        worker.work(0.001)
        unpaced += 0.001
    assert unpaced == pytest.approx(0.02 / (1 - 0.25), abs=0.002)  # credit accrues meanwhile
    assert_within(worker)


def test_a_whole_cpu_or_more_never_pauses() -> None:
    worker = Worker(CpuBudget(share=1.0, burst=0.0))
    for _ in range(100):
        worker.work(0.01)
    assert worker.paused == 0


def test_uncharged_work_keeps_the_credit_and_is_not_paid_back() -> None:
    budget = CpuBudget(share=0.1, burst=0.02)
    pace = start_pace(budget, wall=0.0, cpu=0.0)
    pace = uncharged(pace, wall=5.0, cpu=4.0)  # reading a version: 4 s of CPU, not charged
    pace, pause = pause_after(budget, pace, wall=5.01, cpu=4.01)
    assert pause == 0
    assert pace.credit == pytest.approx(0.02 - 0.01)  # the full burst (never above it), less 10 ms


def test_a_budget_names_a_share_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        CpuBudget(share=0.0)


def _spin(rows: int) -> int:
    """Two milliseconds of CPU, then ``rows`` back."""
    until = time.process_time() + 0.002
    while time.process_time() < until:
        pass
    return rows


def test_the_pacer_sleeps_instead_of_spinning() -> None:
    """A real process: CPU-bound calls paced to a fifth of a CPU use about a fifth of the wall
    clock, and the time between them is slept, not spent."""
    pacer = CpuPacer(CpuBudget(share=0.2, burst=0.0))
    pacer.start()
    paced = pacer.paced(_spin)
    wall, cpu = time.monotonic(), time.process_time()
    for i in range(50):
        assert paced(i) == i
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert wall >= 0.5 * 0.9  # 0.1 s of CPU at a fifth of a CPU
    assert cpu / wall <= 0.2 * 1.1


def test_a_prediction_makes_the_server_busy_for_the_window() -> None:
    activity = PredictionActivity()
    assert not activity.busy()  # no prediction yet
    activity.mark()
    assert activity.busy()
    time.sleep(BUSY_WINDOW_S * 1.2)
    assert not activity.busy()


def test_the_pacer_keeps_to_the_busy_share_while_predictions_come_and_the_idle_one_after() -> None:
    """A real process: the same CPU-bound calls, paced to a fifth of a CPU while a prediction
    began within the window, and not paced at all (a whole CPU) once none has."""
    activity = PredictionActivity()
    pacer = CpuPacer(CpuBudget(share=0.2, burst=0.0), idle=CpuBudget(share=1.0), activity=activity)
    pacer.start()
    paced = pacer.paced(_spin)

    def share_of_wall(predicting: bool) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        for i in range(40):
            if predicting:
                activity.mark()
            assert paced(i) == i
        return (time.process_time() - cpu) / (time.monotonic() - wall)

    assert share_of_wall(predicting=True) <= 0.2 * 1.1
    time.sleep(BUSY_WINDOW_S * 1.2)
    assert share_of_wall(predicting=False) >= 0.7  # not paced: all the CPU it is given


def test_the_server_setting_names_a_share_above_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServerSettings().explain_cpu_share == 0.1
    assert ServerSettings().explain_idle_cpu_share == 1.0
    monkeypatch.setenv("EXPLAIN_CPU_SHARE", "0.3")
    assert ServerSettings().explain_cpu_share == 0.3
    monkeypatch.setenv("EXPLAIN_CPU_SHARE", "0")
    with pytest.raises(ValidationError, match="explain_cpu_share"):
        ServerSettings()
    monkeypatch.delenv("EXPLAIN_CPU_SHARE")
    monkeypatch.setenv("EXPLAIN_IDLE_CPU_SHARE", "0")
    with pytest.raises(ValidationError, match="explain_idle_cpu_share"):
        ServerSettings()
