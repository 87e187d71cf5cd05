"""Fixtures of the reliability tier: the fault counts, the figures, and the operator run
locally as its own ServiceAccount (as in tests/e2e), started and killed at will.

Every reliability test's outcome is recorded beside its figures, so that a failed or skipped
case shows on the page (or stops it from being written) rather than leaving no row."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
# the e2e manifests and the integration tier's tiny models and server processes are reused
for folder in ("e2e", "integration"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))

from operator_fixtures import (  # noqa: E402, F401 (the operator's fixtures, as in tests/e2e)
    admin,
    operator_kubeconfig,
    operator_log,
    start_operator,
    training_namespace,
)
from reliability_support import FIGURES_ENV, Figures, Scale  # noqa: E402

FRAUD_VERSIONS = 4
_FIGURES = Figures(scale=Scale.from_env().name)


RUN_LAST = "test_secret_leaks.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The secret search runs after every other reliability test, over what they logged; at
    full scale a reliability test may take longer than pytest-timeout's default."""
    items.sort(key=lambda item: item.path.name == RUN_LAST)
    timeout = Scale.from_env().timeout
    for item in items:
        if item.get_closest_marker("reliability") is not None:
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.fixture(scope="session")
def scale() -> Scale:
    return Scale.from_env()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The outcome of every reliability test: its call, and a setup or teardown that did not
    pass (a skip included)."""
    report = yield
    if item.get_closest_marker("reliability") is not None and (
        report.when == "call" or not report.passed
    ):
        detail = ""
        if report.failed:
            detail = f"{report.when}: {call.excinfo.exconly() if call.excinfo else 'failed'}"
        elif report.skipped and isinstance(report.longrepr, tuple):
            detail = str(report.longrepr[2])
        outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
        _FIGURES.case(item.nodeid, outcome, seconds=round(call.duration, 1), detail=detail[:300])
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(FIGURES_ENV)
    if target and (_FIGURES.cases or _FIGURES.items):
        _FIGURES.save(Path(target), repository=TESTS.parent)


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


@pytest.fixture(scope="session")
def fraud_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository with versions 1.0.0 … 1.3.0 of the tiny fraud model."""
    from serving_support import fraud_versions

    root = tmp_path_factory.mktemp("models")
    fraud_versions(root, FRAUD_VERSIONS)
    return root
