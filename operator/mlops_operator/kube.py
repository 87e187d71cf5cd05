"""The one small adapter between the operator and the Kubernetes API.

Everything above it works with plain manifests (dicts); this module turns them into REST
calls: server-side apply for children (idempotent: applying the same manifest twice changes
nothing), merge patches for status, and reads. Errors become ``KubeError`` subclasses that
say which object and what the API server answered.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from mlops_operator.builders.names import API_VERSION, FIELD_MANAGER

Manifest = dict[str, Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        if sub:
            base += f"/{sub}"
        return base


KINDS: Final[dict[tuple[str, str], Kind]] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "Pod", "pods"),
        Kind("v1", "Service", "services"),
        Kind("v1", "ServiceAccount", "serviceaccounts"),
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "Namespace", "namespaces", namespaced=False),
        Kind("v1", "Event", "events"),
        Kind("v1", "ResourceQuota", "resourcequotas"),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles"),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        Kind(API_VERSION, "Model", "models"),
        Kind(API_VERSION, "ModelVersion", "modelversions"),
        Kind(API_VERSION, "TrainingJob", "trainingjobs"),
        Kind(API_VERSION, "Experiment", "experiments"),
        Kind(API_VERSION, "Deployment", "deployments"),
        Kind(API_VERSION, "ServingPool", "servingpools"),
        Kind(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            namespaced=False,
        ),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
        Kind(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            namespaced=False,
        ),
        Kind("kueue.x-k8s.io/v1beta2", "Workload", "workloads"),
        Kind("kueue.x-k8s.io/v1beta2", "LocalQueue", "localqueues"),
        Kind("kueue.x-k8s.io/v1beta2", "ClusterQueue", "clusterqueues", namespaced=False),
        Kind(
            "kueue.x-k8s.io/v1beta2",
            "WorkloadPriorityClass",
            "workloadpriorityclasses",
            namespaced=False,
        ),
        Kind("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", namespaced=False),
        Kind("kopf.dev/v1", "KopfPeering", "kopfpeerings"),
        Kind("authentication.k8s.io/v1", "TokenReview", "tokenreviews", namespaced=False),
        Kind(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
            namespaced=False,
        ),
    )
}


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"no REST mapping for {kind} ({api_version}); add it to KINDS") from None


class KubeError(Exception):
    """The API server refused a request."""

    def __init__(self, what: str, status: int, message: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}")
        self.status = status
        self.message = message


class NotFoundError(KubeError):
    pass


class ConflictError(KubeError):
    pass


class ForbiddenError(KubeError):
    pass


class InvalidError(KubeError):
    """422: the object fails schema or CEL validation; the message says which rule."""


_ERRORS: Final[dict[int, type[KubeError]]] = {
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidError,
}


def _error(what: str, exc: ApiException) -> KubeError:
    message = exc.reason or ""
    body = exc.body
    if body:
        try:
            message = json.loads(body).get("message", message)
        except (ValueError, AttributeError):
            message = str(body)[:500]
    return _ERRORS.get(exc.status or 0, KubeError)(what, exc.status or 0, message)


#: HTTP connections kept to the API server: more than the operator's handler threads, so
#: concurrent handlers never open (and TLS-handshake) throwaway connections
CONNECTION_POOL_SIZE: Final = 32


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """In-cluster credentials inside a pod, else the kubeconfig (``$KUBECONFIG`` or given)."""
    configuration = k8s.Configuration()
    if (
        kubeconfig is None
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and not os.environ.get("KUBECONFIG")
    ):
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return k8s.ApiClient(configuration)


class Kube:
    """Typed-enough access to the few resources the operator and the CLI touch."""

    def __init__(self, api_client: k8s.ApiClient, *, field_manager: str = FIELD_MANAGER) -> None:
        self.api_client = api_client
        self.field_manager = field_manager

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _method, full_url, headers, _body, _post = self.api_client.param_serialize(
            method, url, header_params=headers, auth_settings=["BearerToken"]
        )
        started = time.perf_counter()
        try:
            response = self.api_client.call_api(method, full_url, header_params=headers, body=body)
            raw: bytes = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            raise _error(what, exc) from None
        finally:
            log.debug("%s %s: %.1f ms", method, path, (time.perf_counter() - started) * 1000)
        if not 200 <= response.status <= 299:
            failure = ApiException(status=response.status, reason=response.reason)
            failure.body = raw.decode(errors="replace")
            raise _error(what, failure)
        return json.loads(raw) if raw else None

    def apply(self, manifest: Manifest, *, force: bool = True, dry_run: bool = False) -> Manifest:
        """Server-side apply ``manifest`` as this field manager; returns the live object
        (with ``dry_run``, the object as it would be, validated and admitted but not stored)."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        what = f"apply {manifest['kind']} {meta.get('namespace', '')}/{meta['name']}"
        query = {"fieldManager": self.field_manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        result: Manifest = self._request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            what=what,
            query=query,
            body=manifest,
            content_type="application/apply-patch+yaml",
        )
        return result

    def apply_status(self, manifest: Manifest) -> Manifest:
        """Server-side apply of the ``status`` subresource (fields owned by this manager)."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        result: Manifest = self._request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"], "status"),
            what=f"apply status of {manifest['kind']} {meta.get('namespace', '')}/{meta['name']}",
            query={"fieldManager": self.field_manager, "force": "true"},
            body=manifest,
            content_type="application/apply-patch+yaml",
        )
        return result

    def create(self, manifest: Manifest) -> Manifest:
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        result: Manifest = self._request(
            "POST",
            kind.path(meta.get("namespace")),
            what=f"create {manifest['kind']} {meta.get('namespace', '')}/{meta.get('name', '')}",
            query={"fieldManager": self.field_manager},
            body=manifest,
        )
        return result

    def request_token(self, namespace: str, service_account: str, *, seconds: int) -> str:
        """A token of ``service_account`` from the TokenRequest API."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": seconds},
        }
        result = self._request(
            "POST",
            kind_of("v1", "ServiceAccount").path(namespace, service_account, "token"),
            what=f"request a token for ServiceAccount {namespace}/{service_account}",
            body=body,
        )
        return str(result["status"]["token"])

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Manifest | None:
        """The object, or None when it does not exist."""
        try:
            result: Manifest = self._request(
                "GET",
                kind_of(api_version, kind).path(namespace, name),
                what=f"get {kind} {namespace or ''}/{name}",
            )
        except NotFoundError:
            return None
        return result

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[Manifest]:
        query = {"labelSelector": label_selector} if label_selector else None
        result = self._request(
            "GET",
            kind_of(api_version, kind).path(namespace),
            what=f"list {kind} in {namespace or 'all namespaces'}",
            query=query,
        )
        items: list[Manifest] = result.get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Manifest,
        *,
        subresource: str | None = None,
    ) -> Manifest:
        """A JSON merge patch (of the object, or of ``subresource`` such as ``status``)."""
        result: Manifest = self._request(
            "PATCH",
            kind_of(api_version, kind).path(namespace, name, subresource),
            what=f"patch {kind} {namespace or ''}/{name}"
            + (f"/{subresource}" if subresource else ""),
            query={"fieldManager": self.field_manager},
            body=patch,
            content_type="application/merge-patch+json",
        )
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Delete with background propagation; a missing object is not an error."""
        try:
            self._request(
                "DELETE",
                kind_of(api_version, kind).path(namespace, name),
                what=f"delete {kind} {namespace or ''}/{name}",
                body={"propagationPolicy": "Background"},
            )
        except NotFoundError:
            return
