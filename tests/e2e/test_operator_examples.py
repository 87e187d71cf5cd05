"""The other examples of the operator's part, applied as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import StartOperator

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tabular_example_trains_and_registers(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    ns = training_namespace
    start_operator()
    devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "tabular"))
    devcluster.kubectl(
        "wait",
        "-n",
        ns,
        "--for=condition=Succeeded",
        "trainingjob/breast-cancer-mlp",
        "--timeout=300s",
    )
    body = admin.get(API_VERSION, "TrainingJob", "breast-cancer-mlp", ns)
    assert body is not None
    name = body["status"]["modelVersion"]
    version = wait_until(
        lambda: (
            (mv := admin.get(API_VERSION, "ModelVersion", name, ns))
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (mv.get("status") or {}).get("conditions", [])
            )
            and mv
        ),
        timeout=60,
        what="the tabular ModelVersion to be Ready",
    )
    assert version["spec"]["hyperparameters"]["architecture"] == "mlp"
    assert version["spec"]["metrics"]


def test_registering_the_template_artifact_is_stalled_not_ready(
    devcluster: DevCluster, admin: Kube, training_namespace: str, start_operator: StartOperator
) -> None:
    """examples/registry/modelversion.yaml names an artifact that must be replaced: applied
    as is, the registry says it is missing and never marks it Ready."""
    ns = training_namespace
    start_operator()
    devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "threat-classifier" / "model.yaml"))
    devcluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "registry"))
    devcluster.kubectl(
        "wait",
        "-n",
        ns,
        "--for=condition=Stalled",
        "modelversion/threat-classifier-v0-9-0",
        "--timeout=60s",
    )
    body = admin.get(API_VERSION, "ModelVersion", "threat-classifier-v0-9-0", ns)
    assert body is not None
    conditions = {c["type"]: c for c in body["status"]["conditions"]}
    assert conditions["Stalled"]["reason"] == "ArtifactMissing"
    assert conditions["Ready"]["status"] == "False"
    assert body["status"]["artifactVerified"] is False
