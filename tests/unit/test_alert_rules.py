"""The chart's alert rules pass ``promtool check rules`` and their ``promtool test rules`` cases,
and every alert has a case where it fires and one where it does not.

promtool comes with Debian's ``prometheus`` package (``make test`` installs it when missing:
``scripts/setup-machine.sh``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "helm" / "mlops-operator" / "files" / "alert-rules.yaml"
CASES = Path(__file__).with_name("alert_rules_test.yaml")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, (
        "promtool is missing: install Debian's prometheus package (apt-get install prometheus)"
    )
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=CASES.parent,
    )


def alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_rules_are_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", CASES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases: list[dict[str, Any]] = [
        case
        for test in yaml.safe_load(CASES.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alert_names() == {
        "MLOpsModelDriftDetected",
        "MLOpsPredictionErrorRateHigh",
        "MLOpsPredictionLatencyP99High",
        "MLOpsCanaryRolledBack",
        "MLOpsTrainingJobFailed",
        "MLOpsOperatorDown",
    }
    assert alert_names() <= firing, alert_names() - firing
    assert alert_names() <= quiet, alert_names() - quiet


def test_a_wrong_expectation_fails(promtool: str, tmp_path: Path) -> None:
    """The promtool run above can fail: a drift case expecting no alert where one fires."""
    cases = yaml.safe_load(CASES.read_text())
    cases["rule_files"] = [str(RULES)]
    drift = cases["tests"][0]
    drift["alert_rule_test"][1]["exp_alerts"] = []
    cases["tests"] = [drift]
    broken = tmp_path / "broken_test.yaml"
    broken.write_text(yaml.safe_dump(cases))
    result = subprocess.run(
        [promtool, "test", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "MLOpsModelDriftDetected" in result.stdout + result.stderr
