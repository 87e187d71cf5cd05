"""The Helm chart lints, renders, and the API server accepts every object it renders.

CRDs (the chart's own and the kopf peering ones it installs as a hook) are applied for real, as
``helm install`` would before the rest; every other object goes through a server-side dry run,
which runs schema validation, defaulting and admission without persisting anything.
"""

from __future__ import annotations

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


def render(helm: Path, namespace: str, *values: str) -> list[dict[str, Any]]:
    """``helm template`` with CRDs and hooks, as parsed objects (empty documents dropped)."""
    out = helm_run(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--include-crds",
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
    kinds = {o["kind"] for o in rest}
    assert {"Deployment", "ServiceAccount"} <= kinds
    assert ("Role" in kinds) == (scope == "namespaced")

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
    """The check above can fail: a pull policy Kubernetes does not know is refused."""
    objects = render(helm, namespace, "image.pullPolicy=Sometimes")
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
