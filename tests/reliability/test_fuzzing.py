"""Coverage-guided fuzzing (atheris) of the request parsers, the router config and the
artifact manifest reader, each for a bounded time: no crash. The targets run side by side,
one libFuzzer process each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_seeds import SEEDS
from reliability_support import Figures, Scale

pytestmark = pytest.mark.reliability

HARNESS = Path(__file__).with_name("fuzz_targets.py")


def _start(target: str, folder: Path, seconds: int) -> subprocess.Popen[str]:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for n, seed in enumerate(SEEDS[target]):
        (corpus / f"seed-{n}").write_bytes(seed)
    return subprocess.Popen(
        [
            sys.executable,
            str(HARNESS),
            target,
            f"-max_total_time={seconds}",
            "-rss_limit_mb=2048",
            "-max_len=4096",
            f"-artifact_prefix={folder}/",
            str(corpus),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_fuzzing_finds_no_crash(tmp_path: Path, scale: Scale, figures: Figures) -> None:
    running = {t: _start(t, tmp_path / t, scale.fuzz_seconds) for t in sorted(SEEDS)}
    outputs = {t: p.communicate(timeout=scale.fuzz_seconds + 300)[1] for t, p in running.items()}
    section = "Bad input, fuzzed (atheris)"
    problems = []
    for target, stderr in outputs.items():
        runs = re.findall(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)", stderr)
        executions = int(runs[-1]) if runs else 0
        crashes = sorted(p.name for p in (tmp_path / target).glob("crash-*"))
        figures.record(section, f"{target}: executions in {scale.fuzz_seconds} s", executions)
        figures.record(section, f"{target}: crashes", len(crashes), target="0", met=not crashes)
        if crashes or running[target].returncode != 0 or executions == 0:
            problems.append(
                f"{target}: {crashes}, exit {running[target].returncode}\n{stderr[-3000:]}"
            )
    assert not problems, "\n\n".join(problems)
