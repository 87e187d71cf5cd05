"""What the reliability tests share: how many faults to inject (bounded in CI, full counts with
``make reliability``) and the figures each test records for docs/reliability.md.

The bounded form runs with every ``make test``; ``MLOPS_RELIABILITY=full`` scales each count up
to the figures the suite is held to. Each test records what it measured with
:meth:`Figures.record` *before* it asserts anything, a figure that misses its target with
``met=False``; the outcome of every test (passed, failed, skipped) is recorded too (see
conftest.py). When ``MLOPS_RELIABILITY_FIGURES`` names a file, the session writes them there as
JSON with the commit they were measured at, and ``tests/reliability/report.py`` renders that
file as docs/reliability.md, refusing a run in which anything failed or was skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

SCALE_ENV: Final = "MLOPS_RELIABILITY"
FIGURES_ENV: Final = "MLOPS_RELIABILITY_FIGURES"

ScaleName = Literal["bounded", "full"]

#: ``kubectl label namespace`` arguments: pods there must meet the restricted profile
RESTRICTED_LABELS: Final = (
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/enforce-version=latest",
)


@dataclass(frozen=True)
class Scale:
    """How many faults of each kind one run injects."""

    name: ScaleName
    #: train → register flows run while the operator is SIGKILLed at random points
    killed_flows: int
    #: flows in flight at once (the operator is killed while all of them run)
    flows_at_once: int
    #: API server (and etcd) restarts, each in the middle of a flow
    control_plane_restarts: int
    #: MinIO outages while a trainer publishes / while a model server loads
    storage_outages: int
    #: model server pods killed under load behind the router
    server_kills: int
    #: generated cases per endpoint (schemathesis) and seconds per fuzz target (atheris)
    generated_cases: int
    fuzz_seconds: int
    #: seconds of steady load on a server holding more versions than it keeps in memory
    soak_seconds: int

    @property
    def timeout(self) -> int:
        """Seconds one test may take at this scale (pytest-timeout's default is 600)."""
        return 600 if self.name == "bounded" else 3600

    @classmethod
    def from_env(cls) -> Scale:
        wanted = os.environ.get(SCALE_ENV, "bounded")
        if wanted == "full":
            return FULL
        if wanted != "bounded":
            raise ValueError(f"${SCALE_ENV} is {wanted!r}: use 'bounded' (default) or 'full'")
        return BOUNDED


BOUNDED: Final = Scale(
    name="bounded",
    killed_flows=4,
    flows_at_once=4,
    control_plane_restarts=1,
    storage_outages=1,
    server_kills=1,
    generated_cases=5,
    fuzz_seconds=3,
    soak_seconds=20,
)
FULL: Final = Scale(
    name="full",
    killed_flows=50,
    flows_at_once=10,
    control_plane_restarts=3,
    storage_outages=3,
    server_kills=5,
    generated_cases=40,
    fuzz_seconds=60,
    soak_seconds=600,
)


#: which way a figure gets worse, for a figure measured more than once in a run
Worse = Literal["higher", "lower"]


@dataclass
class Figure:
    section: str
    name: str
    value: float | int | str
    target: str = ""
    met: bool | None = None
    worse: Worse = "higher"


@dataclass
class Case:
    """One test of the run and how it ended."""

    test: str
    outcome: Literal["passed", "failed", "skipped"]
    seconds: float
    detail: str = ""


def worst(kept: Figure, new: Figure) -> Figure:
    """Of the same figure measured twice, the one to report: a missed target over a met one,
    else the worse value (never simply the last)."""
    if (kept.met is False) != (new.met is False):
        return kept if kept.met is False else new
    if isinstance(kept.value, int | float) and isinstance(new.value, int | float):
        higher = new if new.value > kept.value else kept
        lower = kept if higher is new else new
        return higher if new.worse == "higher" else lower
    return kept


def source_commit(folder: Path) -> dict[str, Any]:
    """The commit the run measured, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": True}


@dataclass
class Figures:
    """Every figure the suite measured in this session, and how each test ended."""

    scale: ScaleName
    started: float = field(default_factory=time.time)
    items: list[Figure] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def record(
        self,
        section: str,
        name: str,
        value: float | int | str,
        *,
        target: str = "",
        met: bool | None = None,
        worse: Worse = "higher",
    ) -> None:
        """Record a figure; one recorded before keeps its place and the worse of the two."""
        new = Figure(section, name, value, target, met, worse)
        for index, kept in enumerate(self.items):
            if (kept.section, kept.name) == (section, name):
                self.items[index] = worst(kept, new)
                return
        self.items.append(new)

    def case(self, test: str, outcome: Literal["passed", "failed", "skipped"], **kw: Any) -> None:
        self.cases.append(Case(test, outcome, **kw))

    def to_json(self, *, source: dict[str, Any]) -> dict[str, Any]:
        return {
            "scale": self.scale,
            **source,
            "started": self.started,
            "finished": time.time(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "cases": [asdict(case) for case in self.cases],
            "figures": [asdict(item) for item in self.items],
        }

    def save(self, path: Path, *, repository: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_json(source=source_commit(repository))
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


#: attempts on one endpoint less than this apart belong to one burst (requests in flight when
#: it failed)
BURST_GAP_S: Final = 0.5
#: sampling slack: the counter is read every 50 ms, each read taking a few ms more
SLACK_S: Final = 0.5

Burst = tuple[float, float, int]


def attempt_bursts(samples: list[tuple[float, float]]) -> list[Burst]:
    """(first seen, last seen, attempts) of each run of attempts less than BURST_GAP_S apart,
    from cumulative counts sampled over time."""
    bursts: list[Burst] = []
    previous = 0.0
    for at, value in samples:
        if value > previous:
            added = int(value - previous)
            if bursts and at - bursts[-1][1] < BURST_GAP_S:
                first, _, count = bursts[-1]
                bursts[-1] = (first, at, count + added)
            else:
                bursts.append((at, at, added))
        previous = value
    return bursts


@dataclass(frozen=True)
class CounterRead:
    """A counter read from ``/metrics``: the server took its value at some moment between
    ``started`` and ``ended`` (monotonic times), however late the answer came."""

    started: float
    ended: float
    value: float


def attempts_while_set_aside(reads: list[CounterRead], quarantine: float) -> int:
    """Attempts on one endpoint made for certain while the router had it set aside, from reads
    of its failed attempts so far, the first taken before any. The attempts a read finds were
    made after the previous read started and before this one ended. After an attempt that
    failed (and set the endpoint aside), they count only when that whole span lies past the
    first SLACK_S (requests already in flight) and before the last SLACK_S of the quarantine; a
    span wholly past the quarantine is the probe that sets the endpoint aside again; a span in
    between is counted neither way, and may have begun the next quarantine."""
    inside = 0
    began: tuple[float, float] | None = None  # earliest and latest start of this quarantine
    for previous, read in itertools.pairwise(reads):
        if read.value <= previous.value:
            continue
        first, last = previous.started, read.ended
        if began is None or first >= began[1] + quarantine - SLACK_S:
            began = (first, last)  # the first failure, or a probe as the quarantine ran out
        elif first > began[1] + SLACK_S and last < began[0] + quarantine - SLACK_S:
            inside += int(read.value - previous.value)
        elif last >= began[0] + quarantine - SLACK_S:
            began = (began[0], last)  # perhaps the probe
    return inside
