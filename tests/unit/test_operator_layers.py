"""The operator's layers, checked on its imports: handlers (kopf) → reconcile/registry
(decisions) → builders (pure manifests) → api (types). Only handlers and the Kubernetes
adapter talk to the network; builders and the registry rules are pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "mlops_operator"


def _imports(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in _imports(folder).items()
        for name in sorted(names)
        if name.startswith(forbidden)
    ]


def test_builders_and_registry_rules_are_pure() -> None:
    forbidden = (
        "kopf",
        "kubernetes",
        "boto3",
        "mlops_operator.kube",
        "mlops_operator.handlers",
        "mlops_operator.reconcile",
        "mlops_operator.context",
    )
    assert _offenders("builders", forbidden) == []
    assert _offenders("registry", forbidden) == []
    assert _offenders("rollout", (*forbidden, "urllib", "http", "socket")) == []
    assert _offenders("rollout", ("mlops_operator.builders",)) == []
    for pure in ("abtest", "alerting", "monitoring", "statistics"):
        assert _offenders(pure, (*forbidden, "urllib", "smtplib", "http", "socket")) == []


def test_only_handlers_know_kopf() -> None:
    for folder in ("reconcile", "builders", "registry", "rollout", "commands", "api"):
        assert _offenders(folder, ("kopf",)) == [], folder


def test_nothing_below_handlers_imports_them() -> None:
    for folder in ("reconcile", "builders", "registry", "rollout", "api"):
        assert _offenders(folder, ("mlops_operator.handlers", "mlops_operator.commands")) == []


def test_the_operator_never_imports_torch_or_the_images() -> None:
    for folder in ("builders", "registry", "reconcile", "handlers", "commands"):
        offenders = _offenders(
            folder,
            ("torch", "safetensors", "mlops_trainer", "mlops_serving", "mlops_core.artifact_io"),
        )
        assert offenders == [], folder
