"""The pool part of ``mlops demo``: both trained versions served side by side by one
ServingPool, each through a Deployment of its own that runs no pods of its own.

The pool has one model server and one router; the operator places both versions on the server
(by memory, within the pool's per-server budget), and each Deployment answers at its own Service
(``http://<deployment>.<namespace>.svc``), routed by the pool's router.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.commands.output import number, table
from mlops_operator.kube import Kube

POOL = "demo-pool"
MODEL = "threat-classifier"
#: what the pooled Deployments are asked
TEXT = "Multiple failed SSH logins from an unknown address, then a successful root login"
MIB = 1024 * 1024


def _say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def pool_body(namespace: str) -> dict[str, Any]:
    """One server (a 256 MiB model budget) and one router, one copy of each version."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ServingPool",
        "metadata": {"name": POOL, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "routerReplicas": 1,
            "copies": 1,
            "modelMemory": "256Mi",
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }


def pooled_name(version: str) -> str:
    """``1.0.0`` → ``threat-classifier-1-0-0`` (not ``-v1-0-0``: the name of a version's
    server)."""
    return f"{MODEL}-{version.replace('.', '-')}"


def pooled_deployment(namespace: str, version: str) -> dict[str, Any]:
    """A Deployment of ``version`` in the demo's pool: no pods of its own."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": pooled_name(version), "namespace": namespace},
        "spec": {
            "model": MODEL,
            "version": version,
            "pool": POOL,
            "strategy": {"type": "direct"},
        },
    }


def _ready(body: dict[str, Any] | None) -> bool:
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def predict_as(admin: Kube, namespace: str, deployment: str) -> tuple[str, str, float]:
    """(answering version, class, probability) of a prediction sent to the Deployment's own
    Service, addressed by its name as a pod in the cluster sends it (the version the router
    names must be the one the server answered with)."""
    service = admin.get("v1", "Service", deployment, namespace)
    if service is None:
        raise RuntimeError(f"no Service {namespace}/{deployment}")
    request = urllib.request.Request(
        f"http://{service['spec']['clusterIP']}:80/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": [TEXT]}).encode(),
        headers={"content-type": "application/json", "host": f"{deployment}.{namespace}.svc"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            body = json.load(answer)
            version = answer.headers.get("x-mlops-version", "")
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"{deployment} did not answer: {exc}") from exc
    if body["version"] != version:
        raise RuntimeError(f"{deployment}: routed to {version}, answered by {body['version']}")
    return version, body["predictions"][0], float(max(body["probabilities"][0]))


def render_pool(status: dict[str, Any]) -> str:
    rows = [
        [
            server["name"],
            ", ".join(server.get("placed") or []),
            f"{server.get('memoryPlacedBytes', 0) / MIB:.1f} MiB",
        ]
        for server in status.get("servers") or []
    ]
    return (
        f"servingpool/{POOL}: {status.get('readyServers', 0)} server, "
        f"{status.get('readyRouters', 0)} router, {status.get('deployments', 0)} Deployments, "
        f"{status.get('placedVersions', 0)} versions placed\n"
        + table(["server", "placed", "memory placed (of 256 MiB)"], rows)
    )


def serve_pooled(admin: Kube, namespace: str, versions: list[str]) -> str:
    """A pool, a Deployment of each of ``versions`` in it, and one answer from each."""
    admin.apply(pool_body(namespace))
    _say(f"applied mlpool/{POOL} (1 server, 1 router)")
    for version in versions:
        admin.apply(pooled_deployment(namespace, version))
        _say(f"applied mldeploy/{pooled_name(version)} (version {version}, pool {POOL})")
    for version in versions:
        name = pooled_name(version)

        def ready(name: str = name) -> bool:
            return _ready(admin.get(API_VERSION, "Deployment", name, namespace))

        wait_until(ready, timeout=150, what=f"{name} Ready in the pool", interval=0.3)
        _say(f"mldeploy/{name}: Ready")
    rows = []
    for version in versions:
        name = pooled_name(version)
        answered, top, p = predict_as(admin, namespace, name)
        if answered != version:
            raise RuntimeError(f"{name} answered with version {answered}, not {version}")
        own = admin.list("v1", "Pod", namespace, label_selector=f"mlops.dev/deployment={name}")
        rows.append([name, f"http://{name}.{namespace}.svc", answered, top, number(p), len(own)])
    pool = admin.get(API_VERSION, "ServingPool", POOL, namespace) or {}
    columns = ["deployment", "endpoint", "version", "class", "p", "own pods"]
    return render_pool(pool.get("status") or {}) + "\n\n" + table(columns, rows)
