"""What the reliability tests share: how many faults to inject (bounded in CI, full counts with
``make reliability``) and the figures each test records for docs/reliability.md.

The bounded form runs with every ``make test``; ``MLOPS_RELIABILITY=full`` scales each count up
to the figures the suite is held to. Each test records what it measured with
:meth:`Figures.record`; when ``MLOPS_RELIABILITY_FIGURES`` names a file, the session writes
them there as JSON, and ``tests/reliability/report.py`` renders that file as
docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import platform
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


@dataclass
class Figure:
    section: str
    name: str
    value: float | int | str
    target: str = ""
    met: bool | None = None


@dataclass
class Figures:
    """Every figure the suite measured in this session, in the order recorded."""

    scale: ScaleName
    started: float = field(default_factory=time.time)
    items: list[Figure] = field(default_factory=list)

    def record(
        self,
        section: str,
        name: str,
        value: float | int | str,
        *,
        target: str = "",
        met: bool | None = None,
    ) -> None:
        self.items = [f for f in self.items if (f.section, f.name) != (section, name)]
        self.items.append(Figure(section, name, value, target, met))

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "started": self.started,
            "finished": time.time(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "figures": [asdict(item) for item in self.items],
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
