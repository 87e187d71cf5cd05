"""The Grafana dashboard: generated JSON is current, every query parses as PromQL (promtool),
and every metric it reads is one that the model server, router or operator exports."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXPORTERS = (
    ROOT / "serving_image" / "mlops_serving" / "metrics.py",
    ROOT / "serving_image" / "mlops_serving" / "router_metrics.py",
    ROOT / "core" / "mlops_core" / "router_series.py",  # the routers' per-version series
    ROOT / "operator" / "mlops_operator" / "metrics.py",
)
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard", ROOT / "scripts" / "dashboard.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dashboard"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


def test_committed_dashboard_is_current(generator: ModuleType) -> None:
    committed = (ROOT / generator.OUTPUT).read_text()
    assert committed == generator.render(), "run `make dashboard` and commit the JSON"


def test_dashboard_covers_what_operators_watch(generator: ModuleType) -> None:
    titles = {spec.title for spec in generator.panel_specs()}
    for wanted in (
        "Prediction latency percentiles",
        "Throughput",
        "Error rate",
        "Traffic split (configured)",
        "Canary step",
        "Drift per feature",
        "Training jobs by state",
        "Experiment progress",
    ):
        assert wanted in titles


def exported_names() -> set[str]:
    names: set[str] = set()
    for path in EXPORTERS:
        names |= set(re.findall(r'"((?:ml|mlops)_[a-z0-9_]+)"', path.read_text()))
    return names


def test_every_queried_metric_is_exported(generator: ModuleType) -> None:
    exported = exported_names()
    assert "ml_prediction_latency_seconds" in exported
    for spec in generator.panel_specs():
        for query in spec.queries:
            for name in re.findall(r"\b((?:ml|mlops)_[a-z0-9_]+)\b", query.expr):
                base = name
                for suffix in HISTOGRAM_SUFFIXES:
                    if name.endswith(suffix) and name.removesuffix(suffix) in exported:
                        base = name.removesuffix(suffix)
                assert base in exported, f"{spec.title}: {name} is exported by nobody"


def test_every_query_is_valid_promql(generator: ModuleType, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: install Debian's prometheus package"
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(
            generator.concrete(query.expr)
            for spec in generator.panel_specs()
            for query in spec.queries
        )
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and the check can fail
    path.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "d", "rules": [{"record": "x:y", "expr": "sum by (("}]}]}
        )
    )
    bad = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, check=False)
    assert bad.returncode != 0
