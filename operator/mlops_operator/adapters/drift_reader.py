"""Read drift and performance estimates from the model server pods, and check a replacement
drift reference.

``read_version_drift`` asks every pod of a served version for its report
(``GET /mlops/models/{model}/drift?version=...``, the shape of
``mlops_core.drift_report.ModelDriftReport``); a pod that does not answer, or answers for
another version, is listed with the reason instead. ``check_drift_reference`` reads the
statistics a Deployment's ``monitoring.reference`` points at and checks them against the
served version's own, before any pod is told to use them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ValidationError

from mlops_core.artifact import REFERENCE_STATS_FILE
from mlops_core.drift_report import ModelDriftReport
from mlops_core.performance_report import ModelPerformanceReport
from mlops_core.reference_stats import (
    MAX_REFERENCE_BYTES,
    ReferenceStats,
    ReferenceStatsError,
    check_replacement,
)
from mlops_core.storage import ObjectStore, StorageError
from mlops_operator.adapters.pod_reads import get_bounded, read_all
from mlops_operator.monitoring.drift_status import VersionDrift
from mlops_operator.monitoring.performance_status import VersionPerformance

REPORT_BYTES_MAX: Final = 4 * 1024 * 1024
Report = TypeVar("Report", bound=BaseModel)
#: a report that names the version it is about
Versioned = TypeVar("Versioned", ModelDriftReport, ModelPerformanceReport)


@dataclass(frozen=True)
class PodEndpoint:
    """A server pod and the address (``host:port``) its model server listens on."""

    name: str
    address: str


def read_version_drift(
    pods: Sequence[PodEndpoint], *, model: str, version: str, timeout: float = 5.0
) -> VersionDrift:
    """The drift reports of ``version`` from every pod that answers (the pods side by side)."""
    reports, unreadable = _read_reports(pods, model, version, timeout, "drift", ModelDriftReport)
    return VersionDrift(version=version, reports=reports, unreadable=unreadable)


def read_version_performance(
    pods: Sequence[PodEndpoint], *, model: str, version: str, timeout: float = 5.0
) -> VersionPerformance:
    """The performance reports of ``version`` from every pod that answers (side by side)."""
    reports, unreadable = _read_reports(
        pods, model, version, timeout, "performance", ModelPerformanceReport
    )
    return VersionPerformance(version=version, reports=reports, unreadable=unreadable)


def _read_reports(
    pods: Sequence[PodEndpoint],
    model: str,
    version: str,
    timeout: float,
    kind: str,
    shape: type[Versioned],
) -> tuple[list[Versioned], list[str]]:
    """``/mlops/models/<model>/<kind>`` of ``version`` from every pod, side by side: the
    reports, and why each other pod could not be read."""
    query = urlencode({"version": version})

    def read(pod: PodEndpoint) -> Versioned | str:
        url = f"http://{pod.address}/mlops/models/{quote(model)}/{kind}?{query}"
        try:
            report = _get_report(url, timeout, shape)
        except (OSError, ValueError) as exc:
            return f"{pod.name}: {exc}"[:256]
        if report.version != version:
            return f"{pod.name}: serves {report.version}, not {version}"
        return report

    answers = read_all(pods, read)
    return [a for a in answers if isinstance(a, shape)], [a for a in answers if isinstance(a, str)]


def _get_report(url: str, timeout: float, shape: type[Report]) -> Report:
    body = get_bounded(url, timeout=timeout, limit=REPORT_BYTES_MAX)
    try:
        return shape.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(f"not a {shape.__name__}: {exc.error_count()} errors") from None


def check_drift_reference(
    open_store: Callable[[str], ObjectStore], *, reference_uri: str, artifact_uri: str
) -> str | None:
    """Why the statistics at ``reference_uri`` cannot replace those of the artifact at
    ``artifact_uri``, or None when they can."""
    try:
        candidate = _read(open_store, reference_uri)
        training = _read(open_store, artifact_uri.rstrip("/") + "/" + REFERENCE_STATS_FILE)
        check_replacement(candidate, training)
    except ReferenceStatsError as exc:
        return str(exc)[:512]
    return None


def _read(open_store: Callable[[str], ObjectStore], uri: str) -> ReferenceStats:
    parent, _, name = uri.rpartition("/")
    try:
        data = open_store(parent).read_bytes(name)
    except StorageError as exc:
        raise ReferenceStatsError(f"cannot read {uri}: {exc}") from exc
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceStatsError(f"{uri} is larger than {MAX_REFERENCE_BYTES} bytes")
    return ReferenceStats.from_json(data)
