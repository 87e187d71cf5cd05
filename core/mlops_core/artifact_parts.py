"""A verified artifact's files, parsed without torch: what every runtime starts from.

``read_artifact_parts`` reads the manifest and every file it lists, checks each sha256 and size
before parsing anything (``artifact.read_verified_files``), then parses the JSON companions,
except the reference statistics: most of an artifact's bytes, needed only once drift is scored,
they are parsed when asked (``ArtifactParts.read_reference``), from the verified bytes or, once
a runtime has let them go, read again and checked against the manifest like every file.
The network itself stays bytes here: ``artifact_io`` rebuilds it in torch from the safetensors
weights, ``onnx_network`` opens ``model.onnx`` in ONNX Runtime; the server imports only the one
its runtime needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field, ValidationError

from mlops_core.artifact import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    ONNX_FILE,
    PREPROCESSING_FILE,
    REFERENCE_STATS_FILE,
    ArtifactError,
    Manifest,
    VerifiedFiles,
    read_verified_files,
    verify_file,
)
from mlops_core.artifact_config import ArtifactConfig
from mlops_core.calibration import Calibration, CalibrationError
from mlops_core.preprocessing import (
    PreprocessingError,
    TabularPreprocessor,
    TextPreprocessor,
    from_json,
)
from mlops_core.progress import EpochRecord
from mlops_core.reference_stats import ReferenceStats, ReferenceStatsError
from mlops_core.storage import ObjectStore, StorageError
from mlops_core.wire import WireModel

Preprocessor = TabularPreprocessor | TextPreprocessor


class ArtifactMetrics(WireModel):
    """``metrics.json``: validation metrics of the kept epoch, test metrics, and the history."""

    best_epoch: int | None = Field(default=None, ge=1, description="Epoch whose weights these are.")
    epochs_run: int = Field(ge=0, description="Epochs trained (early stopping may end sooner).")
    validation: dict[str, float] = Field(
        default_factory=dict, description="val_* metrics of the best epoch."
    )
    test: dict[str, float] = Field(
        default_factory=dict, description="test_* metrics of the published weights."
    )
    history: list[EpochRecord] = Field(default_factory=list, description="Metrics of every epoch.")

    def flat(self) -> dict[str, float]:
        """``val_*`` and ``test_*`` metrics in one map (what a ModelVersion records)."""
        return {**self.validation, **self.test}


@dataclass(frozen=True)
class ArtifactParts:
    """Every file of a verified version; the JSON ones parsed (the reference statistics when
    asked), the network's still bytes."""

    uri: str
    store: ObjectStore
    config: ArtifactConfig
    preprocessor: Preprocessor
    metrics: ArtifactMetrics
    manifest: Manifest
    digest: str
    size_bytes: int
    files: dict[str, bytes]
    calibration: Calibration | None = None

    @property
    def onnx(self) -> bytes | None:
        """``model.onnx``, or None for a version trained before the export existed."""
        return self.files.get(ONNX_FILE)

    def read_reference(self) -> ReferenceStats:
        """``reference_stats.json``, parsed now: from the verified bytes these parts hold, else
        read again from the version's store and checked against its manifest (ArtifactError
        when it cannot be read, does not match, or is not valid)."""
        data = self.files.get(REFERENCE_STATS_FILE)
        if data is None:
            try:
                data = self.store.read_bytes(REFERENCE_STATS_FILE)
            except StorageError as exc:
                raise ArtifactError(
                    f"cannot read {REFERENCE_STATS_FILE} of {self.uri} again: {exc}"
                ) from exc
            verify_file(self.manifest, REFERENCE_STATS_FILE, data)
        try:
            return ReferenceStats.from_json(data)
        except ReferenceStatsError as exc:
            raise ArtifactError(f"artifact {self.uri} has an invalid file: {exc}") from exc

    def without_files(self) -> ArtifactParts:
        """These parts without the files' bytes, once a runtime has opened the network: a
        served version keeps what it parsed, not the files it parsed them from."""
        return replace(self, files={})


def read_artifact_parts(store: ObjectStore, *, expected_digest: str | None = None) -> ArtifactParts:
    """Read, verify and parse the version at ``store``; ArtifactError says what is wrong
    (including a manifest whose digest is not ``expected_digest``, when given)."""
    verified = read_verified_files(store, expected_digest=expected_digest)
    return parse_artifact_parts(store, verified)


def parse_artifact_parts(store: ObjectStore, verified: VerifiedFiles) -> ArtifactParts:
    """Parse the files ``read_verified_files`` read from ``store`` and checked (no I/O)."""
    files = verified.files
    try:
        config = ArtifactConfig.model_validate_json(files[CONFIG_FILE])
        preprocessor = from_json(files[PREPROCESSING_FILE])
        metrics = ArtifactMetrics.model_validate_json(files[METRICS_FILE])
        raw_calibration = files.get(CALIBRATION_FILE)
        calibration = None if raw_calibration is None else Calibration.from_json(raw_calibration)
    except (ValidationError, PreprocessingError, CalibrationError, ValueError) as exc:
        raise ArtifactError(f"artifact {store.uri} has an invalid file: {exc}") from exc
    return ArtifactParts(
        uri=store.uri,
        store=store,
        config=config,
        preprocessor=preprocessor,
        metrics=metrics,
        manifest=verified.manifest,
        digest=verified.digest,
        size_bytes=verified.size_bytes,
        files=files,
        calibration=calibration,
    )
