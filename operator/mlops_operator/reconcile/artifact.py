"""Verifying a published artifact before the registry trusts it.

The manifest is read first; then every file it lists is read and checked against its sha256
and size. The version digest is the sha256 of the manifest's bytes; when the caller knows the
digest to expect (a ModelVersion's ``artifact.digest``, a trainer's result), it must match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlops_core.artifact import (
    CONFIG_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    Manifest,
    read_verified_files,
)
from mlops_core.progress import METRICS_MAX
from mlops_core.storage import ObjectNotFoundError, ObjectStore, StorageError

HYPERPARAMETERS_MAX = 64
HYPERPARAMETER_VALUE_MAX = 256


@dataclass(frozen=True)
class VerifiedArtifact:
    uri: str
    digest: str
    manifest: Manifest
    metrics: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, str] = field(default_factory=dict)


def flatten_metrics(data: Any, *, prefix: str = "") -> dict[str, float]:
    """Numeric metrics of a ``metrics.json``.

    The trainer's layout (``validation: {val_*}``, ``test: {test_*}``) gives those two maps
    merged; any other document gives its numeric leaves, one level deep and joined with ``_``:
    ``{"test": {"f1": 0.9}}`` → ``{"test_f1": 0.9}``.
    """
    out: dict[str, float] = {}
    if not isinstance(data, dict):
        return out
    if not prefix and any(isinstance(data.get(k), dict) for k in ("validation", "test")):
        for section in ("validation", "test"):
            values = data.get(section)
            if isinstance(values, dict):
                out.update(_numbers(values))
        return dict(sorted(out.items())[:METRICS_MAX])
    for key, value in data.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, dict) and not prefix:
            out.update(flatten_metrics(value, prefix=name))
    return dict(sorted(out.items())[:METRICS_MAX])


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def flatten_hyperparameters(data: Any, *, prefix: str = "") -> dict[str, str]:
    """Scalar leaves of a config document as strings, dotted: ``optimizer.learningRate``."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(flatten_hyperparameters(value, prefix=name))
            elif isinstance(value, bool | int | float | str):
                out[name] = json.dumps(value) if not isinstance(value, str) else value
            elif isinstance(value, list) and all(isinstance(v, int | float | str) for v in value):
                out[name] = json.dumps(value)
    return out


def config_hyperparameters(data: Any) -> dict[str, str]:
    """The hyperparameters of an artifact's ``config.json`` (architecture, model and training
    settings), bounded as a ModelVersion's ``spec.hyperparameters`` is."""
    flat = flatten_hyperparameters(data)
    picked: dict[str, str] = {}
    for key, value in flat.items():
        if key == "architecture" or key.startswith(("model.", "training.")):
            name = key.removeprefix("model.")
            picked[name] = value[:HYPERPARAMETER_VALUE_MAX]
    return dict(list(picked.items())[:HYPERPARAMETERS_MAX])


class ArtifactMissingError(ArtifactError):
    """There is no complete artifact (no manifest.json) at the URI."""


class ArtifactUnavailableError(Exception):
    """The object store could not be read (a passing fault: retry later)."""


def verify_artifact(
    store: ObjectStore,
    *,
    expected_digest: str | None = None,
    expected_model: str | None = None,
    expected_version: str | None = None,
) -> VerifiedArtifact:
    """Check every file of the artifact in ``store``.

    Raises ArtifactError (permanent: missing, corrupted or not the artifact expected) or
    ArtifactUnavailableError (the store did not answer; retry).
    """
    try:
        if not store.exists(MANIFEST_FILE):
            raise ArtifactMissingError(
                f"{store.uri} has no {MANIFEST_FILE}: the artifact is missing or was never "
                "completely published"
            )
        verified = read_verified_files(store, required=(WEIGHTS_FILE,))
    except ObjectNotFoundError as exc:
        raise ArtifactError(str(exc)) from exc
    except StorageError as exc:
        raise ArtifactUnavailableError(f"cannot read the artifact at {store.uri}: {exc}") from exc
    manifest = verified.manifest
    if expected_digest and verified.digest != expected_digest:
        raise ArtifactError(
            f"{store.uri}/{MANIFEST_FILE} has digest {verified.digest}, "
            f"not the expected {expected_digest}"
        )
    if expected_model and manifest.model != expected_model:
        raise ArtifactError(f"{store.uri} holds model {manifest.model!r}, not {expected_model!r}")
    if expected_version and manifest.version != expected_version:
        raise ArtifactError(
            f"{store.uri} holds version {manifest.version!r}, not {expected_version!r}"
        )
    return VerifiedArtifact(
        uri=store.uri,
        digest=verified.digest,
        manifest=manifest,
        metrics=flatten_metrics(_json(verified.files.get(METRICS_FILE))),
        hyperparameters=config_hyperparameters(_json(verified.files.get(CONFIG_FILE))),
    )


def _json(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None
