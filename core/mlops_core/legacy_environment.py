"""The replaced service's environment variables that a process here can take as they are.

The service was configured by environment variables; most of them now live in a resource's
field or a chart value (``docs/migration.md`` lists every one). Those whose meaning a model
server, the operator or the REST API has as a setting of its own are read through this one
table, so a container started with the service's environment keeps working: each process
calls ``adopt_legacy_environment`` once, before it reads its settings. A variable of this
project that is set always wins over the service's. Pure.

- ``S3_ENDPOINT`` → ``AWS_ENDPOINT_URL`` (every S3 client here reads it).
- ``MODEL_BUCKET`` → ``MLOPS_BUCKET`` (operator, REST API).
- ``MODEL_STORAGE_TYPE`` + ``MODEL_STORAGE_PATH`` (+ ``MODEL_BUCKET``) → the model server's
  ``MODEL_REPOSITORY_URI``: ``s3://<bucket>/<path>`` for ``s3``, the path for ``local``.
- ``MAX_MODELS_IN_MEMORY``, ``PRELOAD_MODELS``, ``WARMUP_ON_LOAD``, ``MODEL_CACHE_TTL``,
  ``DRIFT_DETECTION_METHOD``, ``DRIFT_DETECTION_THRESHOLD``, ``DRIFT_WINDOW_SIZE`` and
  ``USE_MLOPS_*`` need no entry: the model server and the operator read them by those names.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Final

#: the service's variable → this project's variable of the same meaning
RENAMED: Final[dict[str, str]] = {
    "S3_ENDPOINT": "AWS_ENDPOINT_URL",
    "MODEL_BUCKET": "MLOPS_BUCKET",
}
STORAGE_TYPE: Final = "MODEL_STORAGE_TYPE"
STORAGE_PATH: Final = "MODEL_STORAGE_PATH"
#: where the model server finds artifacts (``ServerSettings.model_repository_uri``)
REPOSITORY_URI: Final = "MODEL_REPOSITORY_URI"
DEFAULT_BUCKET: Final = "mlops"


class LegacyEnvironmentError(ValueError):
    """A service variable whose value this project cannot take; the message says why."""


def _repository_uri(environ: Mapping[str, str]) -> str | None:
    kind = environ.get(STORAGE_TYPE, "").strip().lower()
    path = environ.get(STORAGE_PATH, "").strip()
    if not kind:
        return None
    if kind in ("local", "filesystem", "file"):
        if not path:
            raise LegacyEnvironmentError(
                f"{STORAGE_TYPE}={kind} needs {STORAGE_PATH}, the folder holding the models"
            )
        return path
    if kind == "s3":
        bucket = environ.get("MODEL_BUCKET") or environ.get("MLOPS_BUCKET") or DEFAULT_BUCKET
        return f"s3://{bucket}/{path.strip('/')}".rstrip("/")
    raise LegacyEnvironmentError(
        f"{STORAGE_TYPE}={kind!r} is not a storage this project reads: use s3 or local "
        f"(or set {REPOSITORY_URI} to s3://bucket/prefix or a folder)"
    )


def legacy_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of this project that ``environ``'s service variables give, leaving out
    any this project's own variables already set."""
    found = {new: environ[old] for old, new in RENAMED.items() if environ.get(old)}
    uri = _repository_uri(environ)
    if uri is not None:
        found[REPOSITORY_URI] = uri
    return {name: value for name, value in found.items() if not environ.get(name)}


def adopt_legacy_environment(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set in ``environ`` what ``legacy_environment`` gives; returns what was set."""
    adopted = legacy_environment(environ)
    environ.update(adopted)
    return adopted
