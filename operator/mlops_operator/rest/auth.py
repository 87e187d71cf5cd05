"""Who is calling, and may they: Kubernetes TokenReview and SubjectAccessReview.

The caller's bearer token is reviewed by the API server (TokenReview), and each action by a
SubjectAccessReview for the caller's user, groups and extra, with the verb and resource the
endpoint stands for, in the request's namespace. The REST API impersonates nobody: once
allowed, it acts with its own ServiceAccount's rights. Answers are reused for a few seconds
(``MLOPS_REST_AUTH_CACHE_SECONDS``), keyed by the token's sha256, never the token itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from mlops_operator.api.meta import GROUP
from mlops_operator.kube import Kube
from mlops_operator.rest.errors import ForbiddenError, UnauthenticatedError

K = TypeVar("K")
V = TypeVar("V")

CACHE_ENTRIES_MAX: Final = 4096


class TtlCache(Generic[K, V]):
    """A small thread-safe map whose entries expire after ``seconds``."""

    def __init__(self, seconds: float, *, size: int = CACHE_ENTRIES_MAX) -> None:
        self.seconds = seconds
        self.size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return found[1]

    def put(self, key: K, value: V) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + self.seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass(frozen=True)
class Caller:
    """The authenticated user, as the TokenReview reported it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.username}\0{self.uid}\0{','.join(self.groups)}"


@dataclass(frozen=True)
class Permission:
    """One RBAC check: ``verb`` on ``resource`` (of group mlops.dev unless said)."""

    verb: str
    resource: str
    group: str = GROUP

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}.{self.group}" if self.group else self.resource


class Reviews:
    """TokenReview and SubjectAccessReview, made with the REST API's own credentials."""

    def __init__(self, kube: Kube, *, cache_seconds: float) -> None:
        self.kube = kube
        self._callers: TtlCache[str, Caller] = TtlCache(cache_seconds)
        self._decisions: TtlCache[tuple[str, str, str], bool] = TtlCache(cache_seconds)

    def authenticate(self, token: str) -> Caller:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._callers.get(key)
        if cached is not None:
            return cached
        review = self.kube.create(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "metadata": {},
                "spec": {"token": token},
            }
        )
        status: dict[str, Any] = review.get("status") or {}
        if not status.get("authenticated"):
            why = status.get("error") or "the API server does not accept it"
            raise UnauthenticatedError(
                f"the bearer token is not valid ({why}): send a current Kubernetes token, "
                "e.g. from `kubectl create token SERVICEACCOUNT`"
            )
        user = status.get("user") or {}
        caller = Caller(
            username=str(user.get("username", "")),
            uid=str(user.get("uid", "")),
            groups=tuple(user.get("groups") or ()),
            extra={k: list(v) for k, v in (user.get("extra") or {}).items()},
        )
        self._callers.put(key, caller)
        return caller

    def authorize(self, caller: Caller, permission: Permission, *, namespace: str) -> None:
        """Return when RBAC allows ``caller`` ``permission`` in ``namespace``, else raise."""
        key = (caller.key, str(permission), namespace)
        allowed = self._decisions.get(key)
        reason = ""
        if allowed is None:
            spec: dict[str, Any] = {
                "user": caller.username,
                "groups": list(caller.groups),
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": permission.verb,
                    "group": permission.group,
                    "resource": permission.resource,
                },
            }
            if caller.uid:
                spec["uid"] = caller.uid
            if caller.extra:
                spec["extra"] = caller.extra
            review = self.kube.create(
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "metadata": {},
                    "spec": spec,
                }
            )
            status: dict[str, Any] = review.get("status") or {}
            allowed = bool(status.get("allowed")) and not status.get("denied")
            reason = str(status.get("reason") or "")
            if allowed:
                self._decisions.put(key, allowed)
        if not allowed:
            raise ForbiddenError(
                f'{caller.username} may not {permission.verb} "{permission.resource}" '
                f'(group "{permission.group}") in namespace "{namespace}"'
                + (f": {reason}" if reason else "")
                + "; ask for a Role with that verb and resource, bound to this user"
            )
