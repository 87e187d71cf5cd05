"""Argo CD health checks (``gitops/argocd/resource_customizations/mlops.dev/<Kind>/``) run by a
real Lua interpreter against their ``health_test.yaml`` cases, the way Argo CD's own test of
contributed checks runs them; the testdata are objects read back from a real API server
(``tests/integration/gitops_states.py`` writes them)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "gitops" / "argocd" / "resource_customizations" / "mlops.dev"
KINDS = ("Model", "ModelVersion", "TrainingJob", "Experiment", "Deployment")


def load_states() -> ModuleType:
    path = ROOT / "tests" / "integration" / "gitops_states.py"
    spec = importlib.util.spec_from_file_location("gitops_states", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gitops_states"] = module
    spec.loader.exec_module(module)
    return module


STATES = load_states()


@pytest.fixture(scope="module")
def lua() -> str:
    path = shutil.which(STATES.LUA)
    assert path, "lua5.4 is missing: install Debian's lua5.4 package (apt-get install lua5.4)"
    return path


def cases(kind: str) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())[
        "tests"
    ]
    return tests


@pytest.mark.parametrize("kind", KINDS)
def test_health_script_passes_its_cases(kind: str, lua: str) -> None:
    for case in cases(kind):
        obj = yaml.safe_load((HEALTH / kind / case["inputPath"]).read_text())
        assert obj["kind"] == kind
        got = STATES.argocd_health(kind, obj, lua=lua)
        want = (case["healthStatus"]["status"], case["healthStatus"]["message"])
        assert got == want, f"{kind} {case['inputPath']}"


@pytest.mark.parametrize("kind", KINDS)
def test_cases_cover_the_states_argocd_shows(kind: str) -> None:
    statuses = {case["healthStatus"]["status"] for case in cases(kind)}
    assert {"Healthy", "Progressing", "Degraded"} <= statuses
    if kind == "Deployment":
        assert "Suspended" in statuses
    # observedGeneration is checked: an object whose spec changed since is Progressing
    behind = [
        yaml.safe_load((HEALTH / kind / case["inputPath"]).read_text())
        for case in cases(kind)
        if case["healthStatus"]["message"].startswith("Waiting for the operator")
    ]
    if kind in ("Model", "Deployment"):
        assert behind
    for obj in behind:
        assert obj["metadata"]["generation"] > obj["status"]["observedGeneration"]


def test_a_generation_ahead_of_the_status_is_progressing_for_every_kind(lua: str) -> None:
    for kind in KINDS:
        healthy = next(c for c in cases(kind) if c["healthStatus"]["status"] == "Healthy")
        obj = yaml.safe_load((HEALTH / kind / healthy["inputPath"]).read_text())
        obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
        status, message = STATES.argocd_health(kind, obj, lua=lua)
        assert status == "Progressing", kind
        assert "generation" in message
        del obj["status"]
        assert STATES.argocd_health(kind, obj, lua=lua)[0] == "Progressing", kind
