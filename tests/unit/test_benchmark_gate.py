"""``make bench`` fails when a benchmark misses a target, and says which figures missed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_benchmarks.py"


def gate() -> ModuleType:
    if "run_benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location("run_benchmarks", SCRIPT)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["run_benchmarks"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["run_benchmarks"]


def summary(met: bool) -> str:
    return json.dumps(
        {
            "benchmark": "router_overhead",
            "figures": {"added_p50_ms": 0.4, "throughput_ratio": 0.74, "split_share_pct": 10.1},
            "targets": {"added_p50_ms": "<= 1.0", "throughput_ratio": ">= 0.8"},
            "met": met,
        }
    )


def test_a_met_summary_passes_and_a_missed_one_names_its_figures() -> None:
    g = gate()
    assert g.verdict(g.Outcome("router_overhead", 0, summary(True))) == []
    lines = g.verdict(g.Outcome("router_overhead", 0, summary(False)))
    assert lines[0] == "router_overhead: missed"
    assert "  target throughput_ratio: >= 0.8; measured throughput_ratio = 0.74" in lines


@pytest.mark.parametrize(
    ("returncode", "last", "says"),
    [
        (1, summary(True), "exited with 1"),
        (0, "done", "not the JSON summary"),
        (0, json.dumps({"benchmark": "x", "met": "yes"}), "no boolean 'met'"),
    ],
)
def test_a_crash_or_a_missing_summary_fails(returncode: int, last: str, says: str) -> None:
    g = gate()
    (line,) = g.verdict(g.Outcome("x", returncode, last))
    assert says in line


def test_the_run_exits_non_zero_after_running_every_benchmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    g = gate()
    (tmp_path / "benchmarks").mkdir()
    for name, met in (("a_missed", False), ("b_met", True)):
        line = summary(met)
        (tmp_path / "benchmarks" / f"{name}.py").write_text(
            f"print('measuring')\nprint({line!r})\n"
        )
    monkeypatch.setattr(g, "BENCHMARKS", tmp_path / "benchmarks")
    assert g.main([]) == 1
    out = capsys.readouterr().out
    assert "== benchmarks/b_met.py" in out  # the miss did not stop the run
    assert out.rstrip().endswith("measured throughput_ratio = 0.74")
    assert g.main(["b_met"]) == 0
