"""``mlops migrate DIR --model NAME``: register an existing artifact directory as a
ModelVersion — upload its files, write the manifest last, create the ModelVersion.

This is how models trained by the service the operator replaces enter the registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_core.artifact import (
    ARTIFACT_FILES,
    ARTIFACT_FORMAT,
    CONFIG_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    OPTIONAL_ARTIFACT_FILES,
    ArtifactError,
    parse_manifest,
    publish_files,
    verify_file,
)
from mlops_core.storage import ObjectStore
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import (
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_VERSION,
    label_value,
    model_version_name,
)
from mlops_operator.operations.errors import OperationError
from mlops_operator.operations.registry import model_versions
from mlops_operator.operations.target import Target
from mlops_operator.reconcile.artifact import config_hyperparameters, flatten_metrics
from mlops_operator.registry.semver import Bump, InvalidVersionError, Version, next_version


@dataclass(frozen=True)
class Migration:
    model: str
    version: str
    stage: str
    uri: str
    digest: str
    name: str


def read_artifact_dir(path: Path) -> dict[str, bytes]:
    """The artifact files in ``path``; a manifest.json there must match them."""
    if not path.is_dir():
        raise OperationError(f"{path} is not a directory: pass the folder holding the model files")
    missing = [name for name in ARTIFACT_FILES if not (path / name).is_file()]
    if missing:
        raise OperationError(
            f"{path} lacks {', '.join(missing)}: an artifact has {', '.join(ARTIFACT_FILES)}"
        )
    present = [name for name in OPTIONAL_ARTIFACT_FILES if (path / name).is_file()]
    files = {name: (path / name).read_bytes() for name in (*ARTIFACT_FILES, *present)}
    manifest_path = path / MANIFEST_FILE
    if manifest_path.is_file():
        manifest = parse_manifest(manifest_path.read_bytes())
        try:
            for name, data in files.items():
                verify_file(manifest, name, data)
        except ArtifactError as exc:
            raise OperationError(f"{path} does not match its own manifest.json: {exc}") from exc
    return files


def choose_migration_version(existing: list[str], *, version: str | None, bump: Bump) -> str:
    if version is None:
        return str(next_version(existing, bump))
    try:
        Version.parse(version)
    except InvalidVersionError as exc:
        raise OperationError(str(exc)) from exc
    if version in existing:
        raise OperationError(f"version {version} already exists: pass another --version")
    return version


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None


def migrate(
    target: Target,
    *,
    directory: Path,
    model: str,
    version: str | None,
    bump: Bump,
    stage: str,
    artifact_root: str,
    task: str | None,
    open_store: Callable[[str], ObjectStore],
) -> Migration:
    files = read_artifact_dir(directory)
    if target.kube.get(API_VERSION, "Model", model, target.namespace) is None:
        if task is None:
            raise OperationError(
                f"Model {model!r} does not exist in namespace {target.namespace}: create it, "
                "or pass --task text-classification|tabular-classification to create it"
            )
        target.kube.create(
            {
                "apiVersion": API_VERSION,
                "kind": "Model",
                "metadata": {"name": model, "namespace": target.namespace},
                "spec": {"task": task, "description": f"Migrated from {directory.name}."},
            }
        )
    existing = [mv.spec.version for mv in model_versions(target, model)]
    chosen = choose_migration_version(existing, version=version, bump=bump)
    uri = f"{artifact_root.rstrip('/')}/{target.namespace}/{model}/{chosen}/"
    store = open_store(uri)
    try:
        published = publish_files(store, model=model, version=chosen, files=files)
    except ArtifactError as exc:
        raise OperationError(str(exc)) from exc
    name = model_version_name(model, chosen)
    target.kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ModelVersion",
            "metadata": {
                "name": name,
                "namespace": target.namespace,
                "labels": {
                    LABEL_MANAGED_BY: "mlops-cli",
                    LABEL_MODEL: label_value(model),
                    LABEL_VERSION: label_value(chosen),
                },
            },
            "spec": {
                "model": model,
                "version": chosen,
                "stage": stage,
                "artifact": {"uri": uri, "digest": published.digest, "format": ARTIFACT_FORMAT},
                "metrics": flatten_metrics(_json(files[METRICS_FILE])),
                "hyperparameters": config_hyperparameters(_json(files[CONFIG_FILE])),
                "description": f"Migrated from {directory.name}.",
            },
        }
    )
    return Migration(model, chosen, stage, uri, published.digest, name)
