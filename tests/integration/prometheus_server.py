"""A real Prometheus that finds its targets through Kubernetes service discovery against the
devcluster's API server.

Debian's ``prometheus`` package is built without Kubernetes discovery, so the test builds
Prometheus from the Go module proxy once (``scripts/build-prometheus.sh``, cached under
``~/.cache/mlops-observability``). The devcluster gives each pod a local address, so Prometheus
scrapes pods directly (``role: pod``), as it does on a cluster with a flat pod network.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

#: app.kubernetes.io/component;container port name of what is scraped
SCRAPED = "operator;metrics|rest-api;http|serving;http|router;http"


def scrape_config(*, kubeconfig: Path, namespaces: list[str]) -> dict[str, Any]:
    component = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
    return {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"},
        "scrape_configs": [
            {
                "job_name": "mlops",
                # The operator's series name the namespace of the object they describe.
                "honor_labels": True,
                "kubernetes_sd_configs": [
                    {
                        "role": "pod",
                        "kubeconfig_file": str(kubeconfig),
                        "namespaces": {"names": namespaces},
                    }
                ],
                "relabel_configs": [
                    {
                        "source_labels": [component, "__meta_kubernetes_pod_container_port_name"],
                        "separator": ";",
                        "regex": SCRAPED,
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_phase"],
                        "regex": "Running",
                        "action": "keep",
                    },
                    {
                        "source_labels": [component],
                        "regex": "rest-api",
                        "target_label": "__metrics_path__",
                        "replacement": "/mlops/metrics",
                    },
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                    {"source_labels": [component], "target_label": "component"},
                ],
            }
        ],
    }


def load_dashboard() -> ModuleType:
    """``scripts/dashboard.py``, the generator of the Grafana dashboard (its panel queries)."""
    spec = importlib.util.spec_from_file_location("dashboard", ROOT / "scripts" / "dashboard.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dashboard"] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def wait_for_data(self, expr: str, *, timeout: float = 60) -> bool:
        """Whether ``expr`` returns at least one series within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.query(expr):
            if time.monotonic() > deadline:
                return False
            time.sleep(1)
        return True

    def active_targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = self.get("/api/v1/targets", state="active")["activeTargets"]
        return targets

    def wait_for(self, what: str, check: Any, *, timeout: float = 90) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_binary() -> Path:
    """Prometheus with Kubernetes discovery (built once from the Go module proxy)."""
    assert shutil.which("go"), "go is needed to build Prometheus (scripts/build-prometheus.sh)"
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-prometheus.sh")],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, f"building Prometheus failed:\n{result.stderr[-4000:]}"
    return Path(result.stdout.strip().splitlines()[-1]) / "prometheus"


@contextmanager
def running_prometheus(config: dict[str, Any], folder: Path) -> Iterator[Prometheus]:
    binary = str(prometheus_binary())
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        prometheus.wait_for("Prometheus to answer", lambda: _ready(prometheus), timeout=60)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(prometheus: Prometheus) -> bool:
    if prometheus.process.poll() is not None:
        raise AssertionError(f"prometheus exited:\n{prometheus.log_tail()}")
    try:
        with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
