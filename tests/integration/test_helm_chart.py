"""The Helm chart lints, renders, and the API server accepts every object it renders.

CRDs (the chart's ``crds/``: its own and kopf's peering ones) are applied for real, as
``helm install`` does before it renders anything else; every other object goes through a
server-side dry run, which runs schema validation, defaulting and admission without persisting
anything. The optional monitoring objects are checked against the Prometheus Operator's own CRDs
(from its Go module, fetched once through the Go module proxy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration
CHART = Path(__file__).resolve().parents[2] / "helm" / "mlops-operator"
RELEASE = "mlops"


def helm_run(helm: Path, *args: str) -> str:
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}"
    return result.stdout


def render(
    helm: Path, namespace: str, *values: str, skip_schema: bool = False
) -> list[dict[str, Any]]:
    """``helm template`` with CRDs and hooks, as parsed objects (empty documents dropped)."""
    out = helm_run(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--include-crds",
        *(["--skip-schema-validation"] if skip_schema else []),
        *(arg for value in values for arg in ("--set", value)),
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_chart_lints(helm: Path) -> None:
    out = helm_run(helm, "lint", "--strict", str(CHART))
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    out = helm_run(helm, "lint", "--strict", str(CHART), "--set", "watchNamespace=team-a")
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("scope", ["cluster", "namespaced"])
def test_rendered_chart_is_accepted_by_the_api_server(
    helm: Path, devcluster: DevCluster, namespace: str, scope: str
) -> None:
    values = [f"watchNamespace={namespace}"] if scope == "namespaced" else []
    objects = render(helm, namespace, *values)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    crd_names = {o["metadata"]["name"] for o in crds}
    assert {
        "trainingjobs.mlops.dev",
        "models.mlops.dev",
        "modelversions.mlops.dev",
        "experiments.mlops.dev",
        "deployments.mlops.dev",
    } <= crd_names
    assert "clusterkopfpeerings.kopf.dev" in crd_names
    kinds = {o["kind"] for o in rest}
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole"} <= kinds
    assert ("Role" in kinds) == (scope == "namespaced")
    components = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]
        for o in rest
        if o["kind"] == "Deployment"
    }
    assert components == {"operator", "rest-api"}
    for obj in rest:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "mlops-operator", obj["kind"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"

    devcluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=helm-chart-test",
        "-f",
        "-",
        input=yaml.safe_dump_all(crds),
    )
    devcluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in crd_names)
    )

    result = devcluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm-chart-test",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(rest),
        check=False,
    )
    assert result.returncode == 0, f"the API server rejected the chart:\n{result.stderr}"
    accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(rest), result.stdout
    for obj in rest:
        namespaced_here = obj["metadata"].get("namespace")
        assert namespaced_here in (None, namespace), f"{obj['kind']} lands in {namespaced_here}"


def test_the_dry_run_rejects_a_value_the_api_server_does_not_accept(
    helm: Path, devcluster: DevCluster, namespace: str
) -> None:
    """The check above can fail: a pull policy Kubernetes does not know is refused (the values
    schema refuses it first; skipped here to reach the API server)."""
    objects = render(helm, namespace, "image.pullPolicy=Sometimes", skip_schema=True)
    deployment = [o for o in objects if o["kind"] == "Deployment"]
    result = devcluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(deployment),
        check=False,
    )
    assert result.returncode != 0
    assert 'Unsupported value: "Sometimes"' in result.stderr


PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.80.1"


def prometheus_operator_crds() -> list[dict[str, Any]]:
    """ServiceMonitor and PrometheusRule CRDs, from the Prometheus Operator's Go module."""
    go = shutil.which("go")
    assert go, "go is needed to fetch the Prometheus Operator's CRDs from the Go module proxy"
    home = Path.home() / ".cache"
    env = {
        **os.environ,
        "GOMODCACHE": os.environ.get("GOMODCACHE", str(home / "go-mod")),
        "GOFLAGS": "-mod=mod",
    }
    result = subprocess.run(
        [go, "mod", "download", "-json", PROMETHEUS_OPERATOR],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
        cwd=home,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    folder = Path(json.loads(result.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
    return [
        yaml.safe_load((folder / f"monitoring.coreos.com_{plural}.yaml").read_text())
        for plural in ("servicemonitors", "prometheusrules")
    ]


def test_monitoring_objects_are_accepted_by_the_api_server(
    helm: Path, devcluster: DevCluster, namespace: str
) -> None:
    crds = prometheus_operator_crds()
    devcluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(crds))
    devcluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{c['metadata']['name']}" for c in crds),
    )
    off = {o["kind"] for o in render(helm, namespace)}
    assert not off & {"ServiceMonitor", "PrometheusRule"}
    objects = render(
        helm,
        namespace,
        "monitoring.serviceMonitors.enabled=true",
        "monitoring.prometheusRule.enabled=true",
        "monitoring.dashboard.enabled=true",
    )
    monitoring = [
        o
        for o in objects
        if o["kind"] in ("ServiceMonitor", "PrometheusRule")
        or (o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"])
    ]
    monitors = sorted(o["metadata"]["name"] for o in monitoring if o["kind"] == "ServiceMonitor")
    assert monitors == [
        f"{RELEASE}-{target}" for target in ("model-servers", "operator", "rest-api", "routers")
    ]
    rule = next(o for o in monitoring if o["kind"] == "PrometheusRule")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "MLOpsCanaryRolledBack" in alerts
    dashboard = next(o for o in monitoring if o["kind"] == "ConfigMap")
    assert json.loads(dashboard["data"]["mlops-operator.json"])["uid"] == "mlops-operator"
    result = devcluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(monitoring),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(monitoring) == 6


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("metrics.port=8080", "/metrics/port"),
        ("rest.service.type=Internal", "/rest/service/type"),
        ("storage.credentialsSecret=Not_A_Name", "/storage/credentialsSecret"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("features.tracing=true", "tracing"),
    ],
)
def test_the_values_schema_refuses_bad_values(helm: Path, value: str, complaint: str) -> None:
    result = subprocess.run(
        [str(helm), "lint", str(CHART), "--set", value],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr
