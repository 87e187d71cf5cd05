"""Domain errors of the model server and the one place that maps them to HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def _body(message: str) -> dict[str, str]:
    return {"error": message}


async def _serving_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServingError)
    if exc.status >= 500:
        log.warning("%s: %s", type(exc).__name__, exc)
    return JSONResponse(_body(str(exc)), status_code=exc.status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:10]:
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            detail = ctx.get("error", "")
            return JSONResponse(_body(f"request body is not valid JSON: {detail}"), status_code=400)
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return JSONResponse(_body("invalid request: " + "; ".join(problems)), status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors → their status with ``{"error": message}``; schema errors → 400."""
    app.add_exception_handler(ServingError, _serving_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
