"""``make bench``: every benchmark in ``benchmarks/``, one after the other, judged by its summary.

Each benchmark prints what it measured and ends with one JSON line, ``{"benchmark", "figures",
"targets", "met"}``. This runs them all (their output passes through as it comes), reads each
last line, and at the end lists every benchmark that missed a target, with its targets and the
figures they judge; it exits non-zero when one missed, failed or printed no summary.

    python scripts/run_benchmarks.py [NAME ...]     # default: all of benchmarks/*.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@dataclass(frozen=True)
class Outcome:
    """One benchmark's run: its exit code and its last output line."""

    name: str
    returncode: int
    last_line: str


def _judged(figures: Mapping[str, Any], target: str) -> dict[str, Any]:
    """The figures a target judges: the one of its name, else those that contain its name."""
    if target in figures:
        return {target: figures[target]}
    return {key: value for key, value in figures.items() if target in key}


def verdict(outcome: Outcome) -> list[str]:
    """Why ``outcome`` fails, one line each; empty when its summary says every target was met."""
    if outcome.returncode != 0:
        return [f"{outcome.name}: exited with {outcome.returncode}"]
    try:
        summary = json.loads(outcome.last_line)
    except json.JSONDecodeError:
        return [f"{outcome.name}: its last line is not the JSON summary: {outcome.last_line!r}"]
    if not isinstance(summary, dict) or not isinstance(summary.get("met"), bool):
        return [f"{outcome.name}: its summary has no boolean 'met': {outcome.last_line!r}"]
    if summary["met"]:
        return []
    figures = summary.get("figures") or {}
    lines = [f"{outcome.name}: missed"]
    for target, wanted in (summary.get("targets") or {}).items():
        measured = _judged(figures, target)
        shown = ", ".join(f"{k} = {v}" for k, v in measured.items()) or "no such figure"
        lines.append(f"  target {target}: {wanted}; measured {shown}")
    return lines


def run(path: Path) -> Outcome:
    """Run one benchmark, its output passing through; its last non-empty line kept."""
    last = ""
    with subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                last = line.strip()
    return Outcome(path.stem, process.returncode, last)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    paths = [BENCHMARKS / f"{n}.py" for n in args.names] or sorted(BENCHMARKS.glob("*.py"))
    failures: list[str] = []
    for path in paths:
        print(f"== {path.relative_to(BENCHMARKS.parent)}", flush=True)
        failures += verdict(run(path))
    if failures:
        print("\n== missed targets\n" + "\n".join(failures))
        return 1
    print(f"\n== every target met ({len(paths)} benchmarks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
