"""The artifact layout that trainer, server and operator agree on byte for byte.

A published model version lives under one root (``s3://<bucket>/models/<model>/<version>/``
or a local directory)::

    model.safetensors      weights, safetensors only (never pickle)
    config.json            architecture + hyperparameters, enough to rebuild the module
    preprocessing.json     the fitted preprocessing (scaler, encoders, vocabulary)
    reference_stats.json   per-feature training statistics for drift detection
    metrics.json           validation/test metrics and the best epoch
    model.onnx             the network in ONNX, ending in probabilities (``onnx_network``);
                           absent from versions trained before the export existed
    calibration.json       the temperature that calibrates the probabilities (``calibration``);
                           absent from versions trained before calibration existed
    manifest.json          sha256 and size of every file above — written LAST

A reader trusts a version only when ``manifest.json`` exists and every file it lists matches
its digest. The version's digest (what a ModelVersion records) is the sha256 of the manifest's
bytes, which transitively covers every file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field

from mlops_core.storage import ObjectNotFoundError, ObjectStore, join_uri
from mlops_core.wire import WireModel

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PREPROCESSING_FILE = "preprocessing.json"
REFERENCE_STATS_FILE = "reference_stats.json"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
#: optional: a version without it is served by the torch runtime
ONNX_FILE = "model.onnx"
#: optional: a version without it is served uncalibrated, with no performance estimate
CALIBRATION_FILE = "calibration.json"
OPTIONAL_ARTIFACT_FILES = (ONNX_FILE, CALIBRATION_FILE)
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


class ArtifactExistsError(ArtifactError):
    """The version already has a manifest.json: published versions are never overwritten."""


@dataclass(frozen=True)
class PublishedFiles:
    """Where a version was published (root URI) and its digest (sha256:<hex> of the manifest)."""

    uri: str
    digest: str
    manifest: Manifest


def publish_files(
    store: ObjectStore, *, model: str, version: str, files: dict[str, bytes]
) -> PublishedFiles:
    """Write ``files`` into ``store``, then ``manifest.json`` last.

    Refuses with ArtifactExistsError when the store already holds a manifest (a complete
    version); leftovers of an unfinished earlier attempt (no manifest) are overwritten.
    """
    if MANIFEST_FILE in files:
        raise ArtifactError("manifest.json is written by publish_files, do not pass it")
    if store.exists(MANIFEST_FILE):
        raise ArtifactExistsError(
            f"{join_uri(store.uri, MANIFEST_FILE)} already exists: version {version} of "
            f"{model!r} is published and is never overwritten; publish a new version"
        )
    for path, data in sorted(files.items()):
        store.write_bytes(path, data)
    manifest = build_manifest(model, version, files)
    data = manifest_bytes(manifest)
    store.write_bytes(MANIFEST_FILE, data)
    return PublishedFiles(uri=store.uri, digest=digest_of(data), manifest=manifest)


@dataclass(frozen=True)
class VerifiedFiles:
    """Every file of a version, read and checked against its manifest."""

    manifest: Manifest
    digest: str
    files: dict[str, bytes]

    @property
    def size_bytes(self) -> int:
        """Every listed file's bytes, those left ``deferred`` included."""
        return sum(entry.size for entry in self.manifest.files)


def read_verified_files(
    store: ObjectStore,
    *,
    required: tuple[str, ...] = ARTIFACT_FILES,
    expected_digest: str | None = None,
    deferred: Collection[str] = (),
) -> VerifiedFiles:
    """Read manifest.json and every file it lists; raise ArtifactError on any mismatch.

    With ``expected_digest`` (what the ModelVersion recorded), a manifest whose digest differs
    is refused before any other file is read. Nothing is deserialised here: callers parse the
    bytes only after every file checked out. Files in ``deferred`` must be listed but are not
    read: whoever reads one later checks it against the manifest (``verify_file``) first.
    """
    try:
        raw = store.read_bytes(MANIFEST_FILE)
    except ObjectNotFoundError:
        raise ArtifactError(
            f"{join_uri(store.uri, MANIFEST_FILE)} does not exist: the version is missing or "
            "was never completely published"
        ) from None
    digest = digest_of(raw)
    if expected_digest is not None and digest != expected_digest:
        raise ArtifactError(
            f"the manifest of {store.uri} has digest {digest}, not {expected_digest} as the "
            "ModelVersion records: the artifact changed after it was registered; publish it "
            "again as a new version or restore the registered files"
        )
    manifest = parse_manifest(raw)
    listed = {entry.path for entry in manifest.files}
    missing = [path for path in required if path not in listed]
    if missing:
        raise ArtifactError(f"manifest of {store.uri} lists no {', '.join(missing)}")
    files: dict[str, bytes] = {}
    for entry in manifest.files:
        if entry.path in deferred:
            continue
        try:
            data = store.read_bytes(entry.path)
        except ObjectNotFoundError:
            raise ArtifactError(
                f"{join_uri(store.uri, entry.path)} is listed in the manifest but missing"
            ) from None
        verify_file(manifest, entry.path, data)
        files[entry.path] = data
    return VerifiedFiles(manifest=manifest, digest=digest, files=files)
