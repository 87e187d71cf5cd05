"""Every error a request can end with, mapped to HTTP in this one place.

The body is always ``{"status": CODE, "reason": "CamelCase", "message": "what to fix"}``, the
shape of a Kubernetes ``Status``: 401 without a valid token, 403 when RBAC says no, 404 for a
missing object, 409 for a conflict, 422 for a request that cannot become a valid resource
(with the API server's own validation message when it is the one refusing), 502/503 when what
the request needs answers badly or is not there yet.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mlops_core.storage import StorageError
from mlops_operator import kube
from mlops_operator.operations import errors as ops
from mlops_operator.registry.stages import StageTransitionError

log = logging.getLogger(__name__)

API_RULES_HINT: Final = (
    "the REST API's ServiceAccount lacks this permission: grant it the rules of "
    "helm/mlops-operator/files/rest-rbac-rules.yaml"
)


class RestError(Exception):
    """An error raised by the REST layer itself (authentication, authorisation, forwarding)."""

    status = 500
    reason = "InternalError"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UnauthenticatedError(RestError):
    status = 401
    reason = "Unauthorized"


class ForbiddenError(RestError):
    status = 403
    reason = "Forbidden"


class BadGatewayError(RestError):
    status = 502
    reason = "BadGateway"


def problem(status: int, reason: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="kubernetes"'} if status == 401 else None
    return JSONResponse(
        {"status": status, "reason": reason, "message": message},
        status_code=status,
        headers=headers,
    )


_OPERATION_STATUS: Final[dict[type[ops.OperationError], tuple[int, str]]] = {
    ops.NotFoundError: (404, "NotFound"),
    ops.InvalidRequestError: (422, "Invalid"),
    ops.ConflictError: (409, "Conflict"),
    ops.UnavailableError: (503, "Unavailable"),
}

_KUBE_STATUS: Final[dict[type[kube.KubeError], tuple[int, str]]] = {
    kube.InvalidError: (422, "Invalid"),
    kube.NotFoundError: (404, "NotFound"),
    kube.ConflictError: (409, "Conflict"),
}


def _validation_message(errors: Sequence[Any]) -> str:
    """``field.path: what is wrong`` for the first ten problems pydantic found."""
    problems = []
    for err in list(errors)[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def to_response(exc: Exception) -> JSONResponse:
    """The one mapping from an exception to its JSON answer."""
    if isinstance(exc, RestError):
        return problem(exc.status, exc.reason, str(exc))
    if isinstance(exc, ops.OperationError):
        status, reason = next(
            (v for k, v in _OPERATION_STATUS.items() if isinstance(exc, k)), (400, "BadRequest")
        )
        return problem(status, reason, str(exc))
    if isinstance(exc, StageTransitionError):
        return problem(409, "Conflict", str(exc))
    if isinstance(exc, kube.ForbiddenError):
        log.error("%s", exc)
        return problem(500, "ServiceAccountForbidden", f"{exc.message} ({API_RULES_HINT})")
    if isinstance(exc, kube.KubeError):
        status, reason = next(
            (v for k, v in _KUBE_STATUS.items() if isinstance(exc, k)), (502, "ApiServerError")
        )
        return problem(status, reason, exc.message if status == 422 else str(exc))
    if isinstance(exc, StorageError):
        return problem(502, "StorageError", str(exc))
    if isinstance(exc, RequestValidationError):
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                detail = (err.get("ctx") or {}).get("error", "")
                return problem(400, "BadRequest", f"request body is not valid JSON: {detail}")
        return problem(422, "Invalid", "invalid request: " + _validation_message(exc.errors()))
    if isinstance(exc, ValidationError):
        return problem(422, "Invalid", _validation_message(exc.errors()))
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "InternalError", f"{type(exc).__name__}: {exc}")


async def _handle(_: Request, exc: Exception) -> JSONResponse:
    return to_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    for kind in (
        RestError,
        ops.OperationError,
        StageTransitionError,
        kube.KubeError,
        StorageError,
        RequestValidationError,
        ValidationError,
        Exception,
    ):
        app.add_exception_handler(kind, _handle)
