"""The dependency every protected endpoint declares: authenticate, authorise, scope.

``Depends(Access(Permission("create", "trainingjobs")))`` reviews the bearer token, checks the
permission in the request's namespace (``?namespace=``, default: the REST API's setting) and
hands the handler a ``Scope``: who called, and a ``Target`` acting with the REST API's own
rights in that namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlops_operator.api.meta import LABEL_NAME_MAX, LABEL_NAME_PATTERN
from mlops_operator.operations.target import Target
from mlops_operator.rest.auth import Caller, Permission
from mlops_operator.rest.errors import UnauthenticatedError
from mlops_operator.rest.services import RestServices, services_of

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="KubernetesToken",
    description="A Kubernetes bearer token (e.g. `kubectl create token SERVICEACCOUNT`); "
    "RBAC decides what it may do.",
)

NamespaceQuery = Annotated[
    str | None,
    Query(
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Namespace to act in; default: the REST API's configured namespace.",
    ),
]


@dataclass(frozen=True)
class Scope:
    caller: Caller
    target: Target
    services: RestServices

    @property
    def namespace(self) -> str:
        return self.target.namespace

    def require(self, *permissions: Permission) -> None:
        """Check more permissions, for what a request reads only in some of its forms."""
        for permission in permissions:
            self.services.reviews.authorize(self.caller, permission, namespace=self.namespace)


class Access:
    """Require every one of ``permissions`` in the request's namespace."""

    def __init__(self, *permissions: Permission) -> None:
        self.permissions = permissions

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        namespace: NamespaceQuery = None,
    ) -> Scope:
        services = services_of(request)
        if credentials is None or not credentials.credentials:
            raise UnauthenticatedError(
                "no bearer token: send 'Authorization: Bearer TOKEN' with a Kubernetes token, "
                "e.g. from `kubectl create token SERVICEACCOUNT`"
            )
        caller = services.reviews.authenticate(credentials.credentials)
        chosen = namespace or services.settings.namespace
        for permission in self.permissions:
            services.reviews.authorize(caller, permission, namespace=chosen)
        return Scope(caller=caller, target=Target(services.kube, chosen), services=services)
