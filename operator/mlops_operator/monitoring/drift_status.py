"""From the drift reports of every server pod to ``status.drift``, ``DriftDetected`` and alerts.

How the pods' scores combine: each pod scores its own window (the requests it served), and the
operator cannot see the windows themselves. Per feature, the combined score is the mean of the
pods' scores weighted by their window lengths (``samples``). All three scores are convex in the
window's distribution (PSI and KL as f-divergences, Wasserstein as a norm of the difference of
CDFs, total variation likewise), so this mean is never below the score of the pods' windows
merged: a drift that the merged window would show is never hidden, and when the router spreads
traffic evenly the two agree closely (small windows bias both upwards by their sampling noise).
Pods that have not yet scored a feature (too few values) do not count for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mlops_core.drift_report import ModelDriftReport
from mlops_core.serving_spec import DriftSpec
from mlops_operator.alerting.alerts import Alert, ObjectRef, figures
from mlops_operator.api.conditions import Condition, ConditionStatus, set_condition
from mlops_operator.api.deployment_status import DriftReport, FeatureDrift
from mlops_operator.monitoring.wording import pods_text

DRIFT_DETECTED: Final = "DriftDetected"
TOP_FEATURES: Final = 5


@dataclass(frozen=True)
class VersionDrift:
    """The pods' reports of one served version, and the pods that could not be read."""

    version: str
    reports: Sequence[ModelDriftReport]
    unreadable: Sequence[str] = ()  # "pod: why"


def combine(observed: VersionDrift, *, monitoring: DriftSpec, now: datetime) -> DriftReport:
    """The version's combined report (score unset while no pod has scored a feature)."""
    totals: dict[str, tuple[float, int]] = {}
    for report in observed.reports:
        for item in report.features:
            if item.score is None or item.samples <= 0:
                continue
            weighted, samples = totals.get(item.name, (0.0, 0))
            totals[item.name] = (weighted + item.score * item.samples, samples + item.samples)
    scored = sorted(
        (
            FeatureDrift(name=name, score=weighted / samples, samples=samples)
            for name, (weighted, samples) in totals.items()
        ),
        key=lambda f: (-f.score, f.name),
    )
    references = sorted({r.reference for r in observed.reports}) or ["training"]
    top = scored[0] if scored else None
    return DriftReport(
        version=observed.version,
        method=monitoring.method,
        threshold=monitoring.threshold,
        score=top.score if top else None,
        feature=top.name[:128] if top else None,
        drifted=top is not None and top.score > monitoring.threshold,
        time=now,
        samples=top.samples if top else 0,
        pods=len(observed.reports),
        reference=", ".join(references)[:1024],
        top_features=scored[:TOP_FEATURES],
    )


def drift_condition(
    conditions: Sequence[Condition],
    reports: Sequence[DriftReport],
    *,
    unreadable: Sequence[str] = (),
    reference_problem: str | None = None,
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """``conditions`` with DriftDetected set from the versions' reports.

    True (DriftDetected) when a version's score is above its threshold; False (NoDrift) when
    every version has a score and none is; Unknown (NotEnoughSamples) while some version has
    no score yet, or (DriftUnreadable) when no pod could be read at all.
    """
    status: ConditionStatus
    drifted = [r for r in reports if r.drifted]
    if drifted:
        status, reason = "True", "DriftDetected"
        message = "; ".join(_describe(r) for r in drifted)
    elif not reports or all(r.pods == 0 for r in reports):
        status, reason = "Unknown", "DriftUnreadable"
        message = "no server pod answered: " + "; ".join(unreadable[:4]) if unreadable else ""
        message = message or "no server pod to read drift from yet"
    elif any(r.score is None for r in reports):
        status, reason = "Unknown", "NotEnoughSamples"
        waiting = [r.version for r in reports if r.score is None]
        message = f"too few inputs scored yet for {', '.join(waiting)}"
    else:
        status, reason = "False", "NoDrift"
        message = "; ".join(_describe(r) for r in reports)
    if reference_problem:
        message += f"; monitoring.reference not used: {reference_problem}"
    return set_condition(
        conditions,
        condition_type=DRIFT_DETECTED,
        status=status,
        reason=reason,
        message=message,
        observed_generation=observed_generation,
        now=now,
    )


def drift_alerts(ref: ObjectRef, reports: Sequence[DriftReport]) -> list[Alert]:
    """One firing drift alert per drifted version."""
    return [
        Alert(
            ref=ref,
            event="drift",
            version=r.version,
            summary=_describe(r),
            figures=figures(
                method=r.method,
                score=r.score,
                threshold=r.threshold,
                feature=r.feature,
                samples=r.samples,
                pods=r.pods,
                reference=r.reference,
            ),
        )
        for r in reports
        if r.drifted
    ]


def _describe(report: DriftReport) -> str:
    comparison = ">" if report.drifted else "<="
    return (
        f"{report.version}: {report.feature} {report.method} {report.score:.4g} {comparison} "
        f"{report.threshold} ({report.samples} inputs over {pods_text(report.pods)})"
    )
