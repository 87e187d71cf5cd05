"""The REST API as a real uvicorn server on loopback, in a thread of the test process."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from mlops_core.storage import open_store, s3_client
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import install, repo_root
from mlops_operator.api.meta import GROUP
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.rest.__main__ import store_opener
from mlops_operator.rest.app import build_app
from mlops_operator.rest.auth import Reviews
from mlops_operator.rest.services import RestServices, StoreOpener
from mlops_operator.rest.settings import RestSettings

#: what templates/rest-rbac.yaml grants the REST API besides its rules file: the reviews
REVIEW_RULES = [
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["subjectaccessreviews"],
        "verbs": ["create"],
    },
]


def rest_api_rules() -> list[dict[str, Any]]:
    """The chart's rules for the REST API's ServiceAccount (its rules file and the reviews)."""
    path = repo_root() / "helm" / "mlops-operator" / "files" / "rest-rbac-rules.yaml"
    rules: list[dict[str, Any]] = yaml.safe_load(path.read_text())
    return rules + REVIEW_RULES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def rest_server(
    kube: Kube,
    *,
    namespace: str = "default",
    open_store: StoreOpener | None = None,
    **settings: object,
) -> Iterator[str]:
    """Serve the REST API (acting as ``kube``) on 127.0.0.1; yields its base URL."""
    port = free_port()
    config = RestSettings.model_validate(
        {"host": "127.0.0.1", "port": port, "namespace": namespace, **settings}
    )
    services = RestServices(
        settings=config,
        kube=kube,
        reviews=Reviews(kube, cache_seconds=config.auth_cache_seconds),
        open_store=open_store or store_opener(),
    )
    server = uvicorn.Server(
        uvicorn.Config(build_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="rest-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the REST API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig with the admin's server and CA but ``token`` as the identity."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "cluster", "cluster": cluster["cluster"]}],
                "users": [{"name": "user", "user": {"token": token}}],
                "contexts": [{"name": "user", "context": {"cluster": "cluster", "user": "user"}}],
                "current-context": "user",
            }
        )
    )
    path.chmod(0o600)
    return path


RESOURCES = ["models", "modelversions", "trainingjobs", "experiments", "deployments"]


@dataclass
class Api:
    url: str
    namespace: str
    writer: str
    reader: str
    admin: Kube
    devcluster: DevCluster
    s3_root: str

    def call(
        self, method: str, path: str, *, token: str | None, body: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=60)

    def account(self, name: str, verbs: dict[str, list[str]]) -> str:
        """A ServiceAccount allowed ``verbs`` by resource in the namespace; its token."""
        rules = [
            {"apiGroups": [GROUP], "resources": [resource], "verbs": allowed}
            for resource, allowed in verbs.items()
        ]
        role = {**_role(name, self.namespace, []), "rules": rules}
        self.admin.apply(role)
        self.admin.apply(_binding("Role", name, self.namespace, name, self.namespace))
        return _account(self.admin, self.namespace, name)

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        out = self.devcluster.kubectl(*args, "-n", self.namespace, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result


def _role(name: str, namespace: str, verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": [{"apiGroups": [GROUP], "resources": RESOURCES, "verbs": verbs}],
    }


def _binding(kind: str, name: str, namespace: str | None, account: str, ns: str) -> Any:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
    }


def _account(admin: Kube, namespace: str, name: str) -> str:
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    return admin.request_token(namespace, name, seconds=3600)


@contextmanager
def cluster_rest_api(devcluster: DevCluster, tmp: Path) -> Iterator[Api]:
    """A namespace, the REST API's ServiceAccount with the chart's rules, a writer and a
    reader ServiceAccount, and the REST API served on loopback as its own account."""
    admin = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(admin)
    ns = f"rest-{secrets.token_hex(4)}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    rules = rest_api_rules()
    cluster_role = f"mlops-rest-api-{ns}"
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_role},
            "rules": rules,
        }
    )
    admin.apply(_binding("ClusterRole", cluster_role, None, "mlops-rest-api", ns))
    own_token = _account(admin, ns, "mlops-rest-api")
    admin.apply(_role("writer", ns, ["get", "list", "create", "patch"]))
    admin.apply(_binding("Role", "writer", ns, "writer", ns))
    admin.apply(_role("reader", ns, ["get", "list"]))
    admin.apply(_binding("Role", "reader", ns, "reader", ns))
    writer, reader = _account(admin, ns, "writer"), _account(admin, ns, "reader")
    kubeconfig = token_kubeconfig(Path(devcluster.kubeconfig), own_token, tmp / "kubeconfig")
    client = s3_client_of(devcluster)
    prefix = f"rest-{secrets.token_hex(4)}"
    try:
        with rest_server(
            Kube(load_api_client(str(kubeconfig)), field_manager="mlops-rest-api"),
            namespace=ns,
            open_store=lambda uri: open_store(uri, client=client if uri[:5] == "s3://" else None),
            promote_wait_seconds=0,
            bucket=devcluster.bucket,
        ) as url:
            yield Api(
                url=url,
                namespace=ns,
                writer=writer,
                reader=reader,
                admin=admin,
                devcluster=devcluster,
                s3_root=f"s3://{devcluster.bucket}/{prefix}",
            )
    finally:
        admin.delete("v1", "Namespace", ns)
        admin.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", cluster_role)
        admin.delete("rbac.authorization.k8s.io/v1", "ClusterRole", cluster_role)
        for root in (prefix, f"drift-references/{ns}"):
            for key in open_store(f"s3://{devcluster.bucket}/{root}", client=client).list():
                open_store(f"s3://{devcluster.bucket}/{root}", client=client).delete(key)


def s3_client_of(devcluster: DevCluster) -> Any:
    return s3_client(
        endpoint=devcluster.s3_endpoint,
        access_key=devcluster.s3_access_key,
        secret_key=devcluster.s3_secret_key,
    )
