"""Drift of a served model: what the Deployments report, and a new reference from data.

A new reference is the training-time statistics (``mlops_core.reference_stats``) computed
from posted records with the served version's own fitted preprocessing, so the server scores
live inputs against it exactly as it does against the trainer's reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import Field, computed_field
from pydantic.dataclasses import dataclass

from mlops_core.artifact import (
    PREPROCESSING_FILE,
    REFERENCE_STATS_FILE,
    ArtifactError,
    read_verified_files,
)
from mlops_core.preprocessing import (
    PreprocessingError,
    TabularPreprocessor,
    TextPreprocessor,
    from_json,
    records_to_columns,
)
from mlops_core.reference_stats import ReferenceStats, compute_reference_stats
from mlops_core.storage import ObjectStore, StorageError, join_uri
from mlops_core.wire import WIRE_RESULT
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import DriftReport
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.operations.errors import InvalidRequestError, NotFoundError, UnavailableError
from mlops_operator.operations.registry import find_version, get_model
from mlops_operator.operations.serving import deployments_of
from mlops_operator.operations.target import Target

#: annotation on a Deployment naming the drift reference posted for it (until the
#: Deployment's monitoring has a field for a custom reference)
DRIFT_REFERENCE_ANNOTATION: Final = "mlops.dev/drift-reference"
MIN_REFERENCE_RECORDS: Final = 10

StoreOpener = Callable[[str], ObjectStore]


@dataclass(frozen=True, config=WIRE_RESULT)
class DeploymentDrift:
    name: Annotated[str, Field(serialization_alias="deploymentId")]
    #: the Deployment's spec.monitoring, as on the wire
    monitoring: dict[str, object]
    reports: Annotated[list[DriftReport], Field(serialization_alias="versions")]
    reference: Annotated[str | None, Field(description="A drift reference posted for it, if any.")]

    @computed_field(alias="driftDetected")  # type: ignore[prop-decorator]
    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.reports)


@dataclass(frozen=True, config=WIRE_RESULT)
class ModelDrift:
    model: Annotated[str, Field(serialization_alias="modelId")]
    deployments: list[DeploymentDrift]

    @computed_field(alias="driftDetected")  # type: ignore[prop-decorator]
    @property
    def drifted(self) -> bool:
        return any(d.drifted for d in self.deployments)


def _drift_of(deployment: Deployment) -> DeploymentDrift:
    return DeploymentDrift(
        name=deployment.metadata.name,
        monitoring=deployment.spec.monitoring.to_wire(),
        reports=list(deployment.status.drift),
        reference=deployment.metadata.annotations.get(DRIFT_REFERENCE_ANNOTATION),
    )


def model_drift(target: Target, model: str) -> ModelDrift:
    """The latest drift scores every Deployment of ``model`` reports in its status."""
    deployments = deployments_of(target, model)
    if not deployments and get_model(target, model) is None:
        raise NotFoundError(f"no Model {model!r} in namespace {target.namespace}")
    return ModelDrift(model=model, deployments=[_drift_of(d) for d in deployments])


def reference_from_records(
    preprocessor: TabularPreprocessor | TextPreprocessor, records: Sequence[Mapping[str, Any]]
) -> ReferenceStats:
    """Reference statistics of ``records`` (raw inputs, as sent for predictions). Pure."""
    if len(records) < MIN_REFERENCE_RECORDS:
        raise InvalidRequestError(
            f"a drift reference needs at least {MIN_REFERENCE_RECORDS} records; got {len(records)}"
        )
    if isinstance(preprocessor, TextPreprocessor):
        names = [preprocessor.text_column]
    else:
        names = list(preprocessor.feature_columns)
    try:
        return compute_reference_stats(preprocessor, records_to_columns(records, names))
    except PreprocessingError as exc:
        raise InvalidRequestError(f"records do not fit the model's inputs: {exc}") from exc


@dataclass(frozen=True, config=WIRE_RESULT)
class NewReference:
    model: Annotated[str, Field(serialization_alias="modelId")]
    version: str
    uri: Annotated[str, Field(serialization_alias="referenceUri")]
    digest: str
    records: int
    features: list[str]
    deployments: Annotated[
        list[str], Field(description="Deployments annotated with the reference.")
    ]


def _version_to_use(target: Target, model: str, version: str | None) -> ModelVersion:
    if version is not None:
        return find_version(target, model, version)[0]
    served = [
        d.status.stable_version or d.spec.version
        for d in deployments_of(target, model)
        if d.status.stable_version or d.spec.version
    ]
    found = get_model(target, model)
    chosen = served[0] if served else (found.status.production_version if found else None)
    if not chosen:
        raise InvalidRequestError(
            f"model {model!r} has no served or production version: name one with 'version'"
        )
    return find_version(target, model, chosen)[0]


def init_reference(
    target: Target,
    model: str,
    records: Sequence[Mapping[str, Any]],
    *,
    version: str | None,
    reference_root: str,
    open_store: StoreOpener,
) -> NewReference:
    """Store a drift reference computed from ``records`` and point the model's Deployments at
    it (annotation ``mlops.dev/drift-reference``). The artifact is verified before its
    preprocessing is used."""
    mv = _version_to_use(target, model, version)
    try:
        verified = read_verified_files(
            open_store(mv.spec.artifact.uri), required=(PREPROCESSING_FILE,)
        )
    except (ArtifactError, StorageError) as exc:
        raise UnavailableError(
            f"cannot read the artifact of {model} {mv.spec.version} at "
            f"{mv.spec.artifact.uri}: {exc}"
        ) from exc
    if mv.spec.artifact.digest and verified.digest != mv.spec.artifact.digest:
        raise UnavailableError(
            f"the artifact of {model} {mv.spec.version} has digest {verified.digest}, "
            f"not {mv.spec.artifact.digest} as registered: it was changed after registration"
        )
    stats = reference_from_records(from_json(verified.files[PREPROCESSING_FILE]), records)
    data = stats.to_json()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    root = join_uri(reference_root, target.namespace, model, mv.spec.version, stamp)
    open_store(root).write_bytes(REFERENCE_STATS_FILE, data)
    uri = join_uri(root, REFERENCE_STATS_FILE)
    annotated = []
    for deployment in deployments_of(target, model):
        target.kube.merge_patch(
            API_VERSION,
            "Deployment",
            deployment.metadata.name,
            target.namespace,
            {"metadata": {"annotations": {DRIFT_REFERENCE_ANNOTATION: uri}}},
        )
        annotated.append(deployment.metadata.name)
    return NewReference(
        model=model,
        version=mv.spec.version,
        uri=uri,
        digest=digest,
        records=len(records),
        features=[f.name for f in stats.features],
        deployments=annotated,
    )
