"""The reliability page cannot hide a failure: a repeated figure keeps its worst value, a run
with a failed or skipped test or a missed target is refused, and the serving-fault check finds
a router that keeps trying a dead endpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

RELIABILITY = Path(__file__).resolve().parents[1] / "reliability"
if str(RELIABILITY) not in sys.path:
    sys.path.append(str(RELIABILITY))

import report  # noqa: E402
from reliability_support import (  # noqa: E402
    CounterRead,
    Figures,
    attempt_bursts,
    attempts_while_set_aside,
)

pytestmark = pytest.mark.unit


def run(**changes: Any) -> dict[str, Any]:
    figures = Figures(scale="full")
    figures.record("Soak", "errors", 0, target="0", met=True)
    figures.case("tests/reliability/test_soak.py::test_x", "passed", seconds=1.0)
    data = figures.to_json(source={"commit": "a" * 40, "dirty": False})
    data.update(changes)
    return data


def test_a_figure_measured_twice_keeps_the_worst_not_the_last() -> None:
    figures = Figures(scale="full")
    figures.record("S", "worst (s)", 3.0, target="< 5", met=True)
    figures.record("S", "worst (s)", 1.0, target="< 5", met=True)
    figures.record("S", "converged", 4, worse="lower")
    figures.record("S", "converged", 6, worse="lower")
    figures.record("S", "errors", 2, target="0", met=False)
    figures.record("S", "errors", 0, target="0", met=True)
    values = {f.name: (f.value, f.met) for f in figures.items}
    assert values == {"worst (s)": (3.0, True), "converged": (4, None), "errors": (2, False)}


def test_a_clean_full_run_is_rendered_with_its_commit() -> None:
    data = run()
    assert report.problems(data) == []
    page = report.render(data)
    assert "commit `aaaaaaaaaaaa`" in page
    assert "Every test passed and every target met." in page
    assert "| `tests/reliability/test_soak.py::test_x` | ✓ | 1.0 |" in page


def test_a_parameter_id_escaped_by_pytest_is_shown_as_written() -> None:
    case = {"test": "t.py::test_flow[train \\u2192 register]", "outcome": "passed", "seconds": 1}
    page = report.render(run(cases=[case]))
    assert "| `t.py::test_flow[train → register]` | ✓ | 1 |" in page


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"scale": "bounded"}, "a bounded run"),
        ({"cases": []}, "no test outcome"),
        (
            {"cases": [{"test": "t", "outcome": "failed", "seconds": 1, "detail": "boom"}]},
            "t failed: boom",
        ),
        ({"cases": [{"test": "t", "outcome": "skipped", "seconds": 0, "detail": ""}]}, "skipped"),
        (
            {"figures": [{"section": "S", "name": "n", "value": 1, "target": "0", "met": False}]},
            "misses 0",
        ),
    ],
)
def test_a_run_with_anything_to_hide_leaves_the_page_as_it_was(
    changes: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    data = run(**changes)
    assert any(problem in found for found in report.problems(data))
    source = tmp_path / "run.json"
    source.write_text(json.dumps(data))
    page, kept = tmp_path / "page.md", tmp_path / "page.json"
    page.write_text("before")
    assert report.main([str(source), str(kept), str(page)]) == 1
    assert page.read_text() == "before"
    assert not kept.exists()


def _reads(samples: list[tuple[float, float]], *, late: float = 0.0) -> list[CounterRead]:
    """Reads of a counter each taking 10 ms, answered ``late`` seconds after the value."""
    return [CounterRead(at, at + 0.01 + late, value) for at, value in [(-0.05, 0.0), *samples]]


def test_a_router_that_keeps_trying_a_dead_endpoint_is_found() -> None:
    quarantine = 5.0
    ticks = [n * 0.05 for n in range(int(16 / 0.05))]
    # quarantined: a burst at the kill, then one probe as each quarantine runs out
    probes = {0.0, 5.0, 10.0, 15.0}
    count, quarantined = 0.0, []
    for at in ticks:
        count += 3 if round(at, 2) == 0.0 else 1 if round(at, 2) in probes else 0
        quarantined.append((at, count))
    assert attempts_while_set_aside(_reads(quarantined), quarantine) == 0
    assert len(attempt_bursts(quarantined)) == 4
    never = [(at, float(n)) for n, at in enumerate(ticks)]  # one attempt every 50 ms
    assert attempts_while_set_aside(_reads(never), quarantine) > 50
    assert attempt_bursts(never)[0][1] > quarantine  # never stopped trying
    short = [(at, float(int(at))) for at in ticks]  # set aside for 1 s only
    assert attempts_while_set_aside(_reads(short), quarantine) >= 5


def test_a_probe_found_by_a_slow_read_is_not_counted_inside_the_quarantine() -> None:
    """The read that finds the probe (made at 5.0 s, as the 5 s quarantine ran out) started at
    4.4 s, before the last SLACK_S of the quarantine, and answered at 5.05 s: its start alone
    would place the probe inside."""
    reads = [CounterRead(-0.05, -0.04, 0.0), CounterRead(0.05, 0.06, 1.0)]
    reads += [CounterRead(at / 10, at / 10 + 0.01, 1.0) for at in range(1, 44)]
    reads += [CounterRead(4.4, 5.05, 2.0), CounterRead(5.1, 5.11, 2.0)]
    assert attempts_while_set_aside(reads, 5.0) == 0
    inside = [*reads[:31], CounterRead(3.0, 3.01, 2.0)]  # an attempt at 3 s: counted
    assert attempts_while_set_aside(inside, 5.0) == 1
