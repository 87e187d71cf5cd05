"""train → promote → deploy → predict → drift reference → search, done only through the MLOps
REST API with the replaced service's own request bodies (``service_examples``); the API runs
as a pod of the operator image (``python -m mlops_operator.rest``) with its own
ServiceAccount, as the chart runs it; every step then seen with kubectl."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_support import StartOperator

import service_examples as service
from mlops_core.images import OPERATOR_IMAGE
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import repo_root, wait_until
from mlops_operator import __version__
from mlops_operator.api.meta import GROUP
from mlops_operator.kube import Kube
from rest_support import rest_api_rules

pytestmark = pytest.mark.e2e

PORT = 8080


def _apply_all(admin: Kube, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        admin.apply(doc)


def _accounts(admin: Kube, ns: str) -> str:
    """The REST API's ServiceAccount (chart rules) and a caller allowed to do everything."""
    rules = rest_api_rules()
    rbac = "rbac.authorization.k8s.io/v1"
    _apply_all(
        admin,
        [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": ns}}
            for n in ("mlops-rest-api", "caller")
        ]
        + [
            {
                "apiVersion": rbac,
                "kind": "ClusterRole",
                "metadata": {"name": f"rest-{ns}"},
                "rules": rules,
            },
            {
                "apiVersion": rbac,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"rest-{ns}"},
                "roleRef": {
                    "apiGroup": rbac.split("/")[0],
                    "kind": "ClusterRole",
                    "name": f"rest-{ns}",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "mlops-rest-api", "namespace": ns}],
            },
            {
                "apiVersion": rbac,
                "kind": "Role",
                "metadata": {"name": "caller", "namespace": ns},
                "rules": [
                    {
                        "apiGroups": [GROUP],
                        "resources": [
                            "models",
                            "modelversions",
                            "trainingjobs",
                            "deployments",
                            "experiments",
                        ],
                        "verbs": ["get", "list", "create", "patch"],
                    }
                ],
            },
            {
                "apiVersion": rbac,
                "kind": "RoleBinding",
                "metadata": {"name": "caller", "namespace": ns},
                "roleRef": {"apiGroup": rbac.split("/")[0], "kind": "Role", "name": "caller"},
                "subjects": [{"kind": "ServiceAccount", "name": "caller", "namespace": ns}],
            },
        ],
    )
    return admin.request_token(ns, "caller", seconds=3600)


def _rest_pod(ns: str) -> dict[str, Any]:
    field = lambda path: {"valueFrom": {"fieldRef": {"fieldPath": path}}}  # noqa: E731
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "mlops-rest-api", "namespace": ns},
        "spec": {
            "serviceAccountName": "mlops-rest-api",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "rest",
                    "image": f"{OPERATOR_IMAGE}:{__version__}",
                    "command": ["python", "-m", "mlops_operator.rest"],
                    "env": [
                        {"name": "POD_IP", **field("status.podIP")},
                        {"name": "MLOPS_REST_NAMESPACE", **field("metadata.namespace")},
                        {"name": "MLOPS_REST_PROMOTE_WAIT_SECONDS", "value": "30"},
                    ],
                    "envFrom": [{"secretRef": {"name": "mlops-s3"}}],
                    "ports": [{"containerPort": PORT}],
                    "readinessProbe": {"httpGet": {"path": "/mlops/health", "port": PORT}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


@pytest.fixture
def rest(admin: Kube, training_namespace: str) -> Iterator[tuple[str, str]]:
    """The REST API pod, Ready; its URL and a caller's token."""
    token = _accounts(admin, training_namespace)
    admin.apply(_rest_pod(training_namespace))

    def ready() -> str | None:
        pod = admin.get("v1", "Pod", "mlops-rest-api", training_namespace) or {}
        status = pod.get("status", {})
        ok = any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
        )
        return f"http://{status['podIP']}:{PORT}" if ok else None

    yield wait_until(ready, timeout=90, what="the REST API pod to be Ready"), token
    admin.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", f"rest-{training_namespace}")
    admin.delete("rbac.authorization.k8s.io/v1", "ClusterRole", f"rest-{training_namespace}")


def _descriptions(count: int) -> list[dict[str, Any]]:
    path = repo_root() / "examples" / "data" / "threat-classifier" / "validation.csv"
    with path.open() as file:
        rows = list(csv.DictReader(file))[:count]
    return [{"description": row["description"]} for row in rows]


def test_the_services_bodies_train_deploy_predict_and_search(
    devcluster: DevCluster,
    admin: Kube,
    start_operator: StartOperator,
    training_namespace: str,
    rest: tuple[str, str],
) -> None:
    ns = training_namespace
    rest_url, token = rest
    model = "threat-classifier"
    start_operator(USE_MLOPS_SERVING="true")
    admin.apply(
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "Model",
            "metadata": {"name": model, "namespace": ns},
            "spec": {"task": "text-classification"},
        }
    )
    with httpx.Client(
        base_url=rest_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        started = client.post("/mlops/train", json=service.train(epochs=2))
        assert started.status_code == 201, started.text
        job_id = started.json()["jobId"]

        def finished() -> dict[str, Any] | None:
            job = client.get(f"/mlops/train/{job_id}").json()
            assert job["status"] != "Failed", job
            return job if job["status"] == "Succeeded" else None

        version = wait_until(finished, timeout=300, what="the training run", interval=2)["version"]
        promoted = client.post(f"/mlops/models/{model}/{version}/promote", json={})
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["productionVersion"] == version
        kubectl = lambda *a: devcluster.kubectl(*a, "-n", ns).stdout  # noqa: E731
        assert "Succeeded" in kubectl("get", "trainingjob", job_id)
        deployed = client.post("/mlops/deploy", json=service.deploy(version=version))
        assert deployed.status_code == 200, deployed.text

        def predicted() -> dict[str, Any] | None:
            answer = client.post("/mlops/predict", json=service.predict())
            if answer.status_code in (502, 503):
                time.sleep(1)
                return None
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

        prediction = wait_until(
            predicted, timeout=240, what="a prediction through REST", interval=2
        )
        assert prediction["version"] == version
        assert prediction["prediction"] in ("benign", "intrusion", "malware", "phishing")
        batch = client.post("/mlops/predict/batch", json=service.predict_batch())
        assert batch.status_code == 200, batch.text
        assert [r["version"] for r in batch.json()["responses"]] == [version, version]
        reference = client.post(
            f"/mlops/models/{model}/drift/init", json=service.drift_init(_descriptions(20))
        )
        assert reference.status_code == 201, reference.text
        assert reference.json()["deployments"] == [model]

        searched = client.post(
            "/mlops/experiments", json=service.experiment(max_trials=2, parallel=2)
        )
        assert searched.status_code == 201, searched.text
        name = searched.json()["experimentId"]

        def trial_succeeded() -> dict[str, Any] | None:
            found: dict[str, Any] = client.get(f"/mlops/experiments/{name}").json()
            assert found["trials"]["failed"] == 0, found
            return found if found["trials"]["succeeded"] >= 1 else None

        trials = wait_until(trial_succeeded, timeout=300, what="a trial to succeed", interval=2)
        assert trials["trials"]["created"] >= 1
        template = admin.get(f"{GROUP}/v1alpha1", "Experiment", name, ns)
        assert template is not None
        assert template["spec"]["trialTemplate"]["model"]["architecture"] == "lstm"
    assert version in kubectl("get", "deployments.mlops.dev", model, "-o", "wide")
