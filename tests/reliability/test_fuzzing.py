"""Coverage-guided fuzzing (atheris) of the request parsers, the router config and the
artifact manifest reader, each for a bounded time: no crash."""

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


@pytest.mark.parametrize("target", sorted(SEEDS))
def test_fuzzing_finds_no_crash(
    target: str, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n, seed in enumerate(SEEDS[target]):
        (corpus / f"seed-{n}").write_bytes(seed)
    done = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            f"-max_total_time={scale.fuzz_seconds}",
            "-rss_limit_mb=2048",
            "-max_len=4096",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=scale.fuzz_seconds + 120,
        check=False,
    )
    runs = re.findall(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)", done.stderr)
    executions = int(runs[-1]) if runs else 0
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    section = "Bad input, fuzzed (atheris)"
    figures.record(section, f"{target}: executions in {scale.fuzz_seconds} s", executions)
    figures.record(section, f"{target}: crashes", len(crashes), target="0", met=not crashes)
    assert not crashes, done.stderr[-4000:]
    assert done.returncode == 0, done.stderr[-4000:]
    assert executions > 0, done.stderr[-2000:]
