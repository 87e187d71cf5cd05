"""Domain errors of the model server and the one place that maps them to HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)


class ServingError(Exception):
    """Base of every error a request can end with; ``status`` is its HTTP code."""

    status = 500


class ModelNotFoundError(ServingError):
    """No such model or version in the repository."""

    status = 404


class InvalidInputError(ServingError):
    """The payload is malformed or does not fit the model."""

    status = 400


class PayloadTooLargeError(ServingError):
    status = 413


class ModelUnavailableError(ServingError):
    """The model exists but cannot serve: it failed to load, or its digest check failed."""

    status = 503


def too_large_message(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes (MAX_REQUEST_BYTES)"


def _body(message: str) -> dict[str, str]:
    return {"error": message}


async def _serving_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServingError)
    if exc.status >= 500:
        log.warning("%s: %s", type(exc).__name__, exc)
    return JSONResponse(_body(str(exc)), status_code=exc.status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            detail = ctx.get("error", "")
            return JSONResponse(_body(f"request body is not valid JSON: {detail}"), status_code=400)
    return JSONResponse(_body(validation_message(errors)), status_code=400)


def validation_message(errors: Sequence[Any]) -> str:
    """pydantic's errors as one line: ``where: what`` for the first few."""
    problems = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own answers (unknown path 404, wrong method 405) in the same shape."""
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no such path: {request.url.path} (see /docs for the API)"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse(_body(message), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(_body(f"internal error: {type(exc).__name__}"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors → their status with ``{"error": message}``; schema errors → 400; the
    framework's 404/405 and anything unexpected (500) in the same shape."""
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
