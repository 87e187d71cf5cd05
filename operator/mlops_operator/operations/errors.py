"""Why an operation cannot do what was asked. Each message says what to do instead; the CLI
prints it, the REST API maps the class to an HTTP status (``rest/errors.py``)."""

from __future__ import annotations


class OperationError(Exception):
    """An operation cannot do what was asked; the message says what to do instead."""


class NotFoundError(OperationError):
    """The object the request names does not exist."""


class InvalidRequestError(OperationError):
    """The request cannot become a valid resource; the message names the field."""


class ConflictError(OperationError):
    """The request contradicts the current state (e.g. a stage transition not allowed)."""


class UnavailableError(OperationError):
    """What the request needs is not there yet (e.g. a Deployment without an endpoint)."""
