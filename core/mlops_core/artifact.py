"""The artifact layout that trainer, server and operator agree on byte for byte.

A published model version lives under one root (``s3://<bucket>/models/<model>/<version>/``
or a local directory)::

    model.safetensors      weights, safetensors only (never pickle)
    config.json            architecture + hyperparameters, enough to rebuild the module
    preprocessing.json     the fitted preprocessing (scaler, encoders, vocabulary)
    reference_stats.json   per-feature training statistics for drift detection
    metrics.json           validation/test metrics and the best epoch
    manifest.json          sha256 and size of every file above — written LAST

A reader trusts a version only when ``manifest.json`` exists and every file it lists matches
its digest. The version's digest (what a ModelVersion records) is the sha256 of the manifest's
bytes, which transitively covers every file.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from pydantic import Field

from mlops_core.wire import WireModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PREPROCESSING_FILE = "preprocessing.json"
REFERENCE_STATS_FILE = "reference_stats.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = (WEIGHTS_FILE, CONFIG_FILE, PREPROCESSING_FILE, REFERENCE_STATS_FILE, METRICS_FILE)
ARTIFACT_FORMAT = "mlops-safetensors-v1"


class ArtifactError(Exception):
    """An artifact is missing, incomplete or does not match its manifest."""


class ManifestEntry(WireModel):
    """One file of an artifact."""

    path: str = Field(description="Path relative to the artifact root.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex sha256 of the file.")
    size: int = Field(ge=0, description="Size in bytes.")


class Manifest(WireModel):
    """The list of files that make up a complete artifact."""

    format: str = Field(default=ARTIFACT_FORMAT, description="Artifact format identifier.")
    model: str = Field(description="Registry model name.")
    version: str = Field(description="Semantic version.")
    created_at: str = Field(description="RFC 3339 time the artifact was published.")
    files: list[ManifestEntry] = Field(description="Every file of the artifact but the manifest.")

    def entry(self, path: str) -> ManifestEntry:
        for item in self.files:
            if item.path == path:
                return item
        raise ArtifactError(f"manifest lists no file {path!r}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(model: str, version: str, files: dict[str, bytes]) -> Manifest:
    """The manifest for ``files`` (relative path → content), sorted by path."""
    return Manifest(
        model=model,
        version=version,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        files=[
            ManifestEntry(path=path, sha256=sha256_hex(data), size=len(data))
            for path, data in sorted(files.items())
        ],
    )


def manifest_bytes(manifest: Manifest) -> bytes:
    """Canonical serialisation: the bytes whose sha256 is the version digest."""
    return json.dumps(manifest.to_wire(), sort_keys=True, indent=2).encode() + b"\n"


def parse_manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValueError as exc:
        raise ArtifactError(f"manifest.json is not a valid manifest: {exc}") from exc


def digest_of(manifest_data: bytes) -> str:
    """The version digest, ``sha256:<hex>`` of the manifest bytes."""
    return "sha256:" + sha256_hex(manifest_data)


def verify_file(manifest: Manifest, path: str, data: bytes) -> None:
    """Raise ArtifactError unless ``data`` is exactly the file the manifest lists."""
    entry = manifest.entry(path)
    if len(data) != entry.size or sha256_hex(data) != entry.sha256:
        raise ArtifactError(
            f"{path} does not match the manifest (expected sha256 {entry.sha256[:12]}… "
            f"and {entry.size} bytes, got {sha256_hex(data)[:12]}… and {len(data)} bytes)"
        )
