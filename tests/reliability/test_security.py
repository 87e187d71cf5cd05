"""Security: every pod the system creates is admitted under the restricted Pod Security
profile; each ServiceAccount can do what it needs and is refused the rest (an RBAC matrix from
the chart's own rules, no wildcards); S3 and alert secrets never appear in logs, status or
Events."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from pod_sources import BUILT_POD_SOURCES, chart_pods
from reliability_support import Figures

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.kube import ApiError
from mlops_devcluster.local_operator import OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, install
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.router import build_router_account
from mlops_operator.builders.training_job import build_status_reporter
from mlops_operator.kube import Kube

pytestmark = pytest.mark.reliability

RBAC_RULES = (
    Path(__file__).resolve().parents[2] / "helm" / "mlops-operator" / "files" / "rbac-rules.yaml"
)
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def _restricted_namespace(devcluster: DevCluster) -> str:
    name = f"rel-psa-{secrets.token_hex(3)}"
    devcluster.kube().create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}},
    )
    return name


def test_every_pod_the_system_creates_is_admitted_as_restricted(
    devcluster: DevCluster, helm: Path, figures: Figures
) -> None:
    ns = _restricted_namespace(devcluster)
    kube = devcluster.kube()
    templates = [t for source in BUILT_POD_SOURCES for t in source(ns)] + chart_pods(helm, ns)
    refused = []
    for account in {t["spec"].get("serviceAccountName", "default") for _, t in templates}:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}}
        try:  # the ServiceAccount admission plugin looks them up
            kube.create(f"/api/v1/namespaces/{ns}/serviceaccounts", body)
        except ApiError as exc:
            if exc.status != 409:
                raise
    for what, template in templates:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"psa-{secrets.token_hex(3)}",
                "namespace": ns,
                "labels": template.get("metadata", {}).get("labels", {}),
            },
            "spec": template["spec"],
        }
        try:
            kube.create(f"/api/v1/namespaces/{ns}/pods?dryRun=All", pod)
        except ApiError as exc:
            refused.append(f"{what}: {exc}")
    # and a pod the profile must refuse, so the namespace really enforces it
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": ns},
        "spec": {
            "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
        },
    }
    with pytest.raises(ApiError, match="violates PodSecurity"):
        kube.create(f"/api/v1/namespaces/{ns}/pods?dryRun=All", privileged)
    section = "Security"
    figures.record(
        section,
        "pod templates admitted under enforce=restricted",
        f"{len(templates) - len(refused)} of {len(templates)}",
        target="all",
        met=not refused,
    )
    assert len(templates) >= 5
    assert not refused, refused


def _can(devcluster: DevCluster, user: str, groups: list[str], attributes: dict[str, str]) -> bool:
    review = devcluster.kube().create(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": attributes},
        },
    )
    return bool(review["status"].get("allowed"))


def _attributes(verb: str, resource: str, namespace: str) -> dict[str, str]:
    """``create batch/jobs``, ``get /secrets`` (core group) or ``patch
    mlops.dev/trainingjobs/status``, ``get /configmaps:NAME`` (one object) as the attributes of
    an access review."""
    resource, _, object_name = resource.partition(":")
    group, name, *sub = resource.split("/")
    attributes = {"verb": verb, "group": group, "resource": name, "namespace": namespace}
    if sub:
        attributes["subresource"] = sub[0]
    if object_name:
        attributes["name"] = object_name
    return attributes


# (verb, group/resource[/subresource], the core group empty): what the operator needs, and
# what it must be refused
OPERATOR_ALLOWED = [
    ("watch", "mlops.dev/trainingjobs"),
    ("patch", "mlops.dev/trainingjobs/status"),
    ("create", "mlops.dev/modelversions"),
    ("patch", "mlops.dev/modelversions/status"),
    ("create", "batch/jobs"),
    ("list", "/pods"),
    ("create", "/services"),
    ("create", "/serviceaccounts"),
    ("create", "rbac.authorization.k8s.io/roles"),
    ("create", "rbac.authorization.k8s.io/rolebindings"),
    ("create", "/events"),
    ("patch", "kopf.dev/kopfpeerings"),
    ("create", "apps/deployments"),
    ("delete", "apps/deployments"),
    ("patch", "/configmaps"),
    ("list", "discovery.k8s.io/endpointslices"),
    ("get", "/secrets"),  # an alert channel's credentials, read by name when sending
]
OPERATOR_REFUSED = [
    ("list", "/secrets"),
    ("watch", "/secrets"),
    ("create", "/pods"),
    ("create", "/pods/exec"),
    ("delete", "batch/jobs"),
    ("delete", "mlops.dev/modelversions"),
    ("update", "mlops.dev/trainingjobs"),
    ("create", "mlops.dev/models"),
    ("update", "apps/deployments"),
    ("create", "apps/daemonsets"),
    ("create", "discovery.k8s.io/endpointslices"),
    ("delete", "/namespaces"),
    ("create", "rbac.authorization.k8s.io/clusterrolebindings"),
    ("escalate", "rbac.authorization.k8s.io/roles"),
    ("bind", "rbac.authorization.k8s.io/roles"),
    ("impersonate", "/serviceaccounts"),
]
TRAINER_ALLOWED = [
    ("get", "mlops.dev/trainingjobs"),
    ("get", "mlops.dev/trainingjobs/status"),
    ("patch", "mlops.dev/trainingjobs/status"),
]
TRAINER_REFUSED = [
    ("list", "mlops.dev/trainingjobs"),
    ("patch", "mlops.dev/trainingjobs"),
    ("create", "mlops.dev/modelversions"),
    ("patch", "mlops.dev/modelversions/status"),
    ("get", "/secrets"),
    ("get", "/configmaps"),
    ("create", "/pods"),
    ("create", "batch/jobs"),
    ("list", "/pods"),
    ("create", "/events"),
]


ROUTER_ALLOWED = [
    ("watch", "discovery.k8s.io/endpointslices"),
    ("get", "/configmaps:fraud-router"),
]
ROUTER_REFUSED = [
    ("get", "/configmaps:another-deployments-router"),
    ("patch", "/configmaps"),
    ("get", "/secrets"),
    ("list", "/pods"),
    ("patch", "discovery.k8s.io/endpointslices"),
    ("get", "mlops.dev/deployments"),
    ("create", "/events"),
]


def _deployment(namespace: str) -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "namespace": namespace, "uid": "u-1", "generation": 1},
            "spec": {"model": "fraud", "version": "1.2.0"},
        }
    )


def _no_wildcards(rules: list[dict[str, Any]]) -> list[str]:
    return [
        f"{key}: {rule[key]}"
        for rule in rules
        for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
        if "*" in (rule.get(key) or [])
    ]


def test_rbac_matrix_of_each_service_account(
    devcluster: DevCluster, admin: Kube, namespace: str, figures: Figures
) -> None:
    install(admin)  # the chart's ClusterRole for the operator's ServiceAccount
    router_account = build_router_account(_deployment(namespace))
    for manifest in build_status_reporter(namespace) + router_account:
        # no owner reference: the owning mlops.dev Deployment is not created here, and the
        # garbage collector deletes what a missing owner owns
        manifest["metadata"].pop("ownerReferences", None)
        admin.apply(manifest)
    trainer_rules = build_status_reporter(namespace)[1]["rules"]
    router_rules = router_account[1]["rules"]
    chart_rules = yaml.safe_load(RBAC_RULES.read_text())
    wildcards = [
        *_no_wildcards(chart_rules),
        *_no_wildcards(trainer_rules),
        *_no_wildcards(router_rules),
    ]

    accounts = {
        "operator": (OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, OPERATOR_ALLOWED, OPERATOR_REFUSED),
        "trainer": (namespace, "mlops-trainer", TRAINER_ALLOWED, TRAINER_REFUSED),
        "router": (
            namespace,
            router_account[0]["metadata"]["name"],
            ROUTER_ALLOWED,
            ROUTER_REFUSED,
        ),
    }
    wrong = []
    checks = 0
    for label, (sa_namespace, account, allowed, refused) in accounts.items():
        user = f"system:serviceaccount:{sa_namespace}:{account}"
        groups = [
            "system:serviceaccounts",
            f"system:serviceaccounts:{sa_namespace}",
            "system:authenticated",
        ]
        for expected, cases in ((True, allowed), (False, refused)):
            for verb, resource in cases:
                checks += 1
                got = _can(devcluster, user, groups, _attributes(verb, resource, namespace))
                if got != expected:
                    wrong.append(f"{label} {verb} {resource}: {'allowed' if got else 'refused'}")
        # the trainers' and routers' Roles reach no other namespace
        if label != "operator":
            verb, resource = allowed[0]
            checks += 1
            if _can(devcluster, user, groups, _attributes(verb, resource, "default")):
                wrong.append(f"{label} {verb} {resource} in another namespace: allowed")

    section = "Security"
    figures.record(section, "RBAC checks (allowed and refused, 3 ServiceAccounts)", checks)
    figures.record(
        section,
        "RBAC checks answered otherwise than expected",
        len(wrong),
        target="0",
        met=not wrong,
    )
    figures.record(
        section, "wildcards in RBAC rules", len(wildcards), target="0", met=not wildcards
    )
    assert not wildcards, wildcards
    assert not wrong, wrong
