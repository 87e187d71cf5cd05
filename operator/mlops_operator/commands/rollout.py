"""``mlops rollout status|pause|resume|promote|abort|retry DEPLOYMENT``: what the operations
(``operations/serving.get_deployment``, ``operations/rollout.py``) return, printed for the
terminal."""

from __future__ import annotations

from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.api.deployment import ROLLOUT_REQUEST_ANNOTATION, Deployment
from mlops_operator.api.deployment_status import AnalysisRun, IncreaseEstimate
from mlops_operator.commands.output import number, table
from mlops_operator.operations.rollout import RolloutChange


def render_change(change: RolloutChange) -> str:
    suffix = f" ({ROLLOUT_REQUEST_ANNOTATION}={change.token})" if change.token else ""
    return f"mldeploy/{change.deployment} {change.what}{suffix}"


def _interval(name: str, estimate: IncreaseEstimate | None) -> str:
    if estimate is None:
        return ""
    return (
        f"{name} {estimate.increase * 100:+.2f} "
        f"[{estimate.lower * 100:+.2f}, {estimate.upper * 100:+.2f}]"
    )


def _versus_stable(run: AnalysisRun) -> str:
    """The sequential method's increases over stable, in points, with their intervals."""
    found = run.sequential
    if found is None:
        return "-"
    parts = [_interval("err", found.error_rate), _interval("slow", found.slow_share)]
    return "; ".join(p for p in parts if p) or f"{found.canary_requests} req so far"


def render_status(dep: Deployment) -> str:
    status = dep.status
    ready = find_condition(status.conditions, READY)
    lines = [
        f"Deployment:  {dep.metadata.name} (model {dep.spec.model})",
        f"Phase:       {status.phase or '-'}"
        + (f" (step {status.step_summary})" if status.step_summary else ""),
        f"Stable:      {status.stable_version or '-'}",
        f"Canary:      {status.canary_version or '-'}",
        f"Traffic:     {status.traffic_summary or '-'}",
        f"Ready:       {ready.status if ready else '-'}"
        + (f" {ready.reason}: {ready.message}" if ready else ""),
        f"Endpoint:    {status.endpoint or '-'}",
        f"Replicas:    {status.ready_replicas}/{status.replicas} ready",
    ]
    if status.rollout.failed_version:
        lines.append(f"Failed:      {status.rollout.failed_version}: {status.rollout.failure}")
    if status.analysis:
        rows = [
            (
                run.step + 1,
                f"{run.weight}%",
                run.canary.requests,
                number(run.canary.error_rate),
                number(run.canary.p99_latency_ms),
                number(run.stable.p99_latency_ms),
                _versus_stable(run),
                run.decision,
                run.reason,
            )
            for run in status.analysis
        ]
        headers = (
            "step",
            "weight",
            "requests",
            "errors",
            "p99 ms",
            "stable p99",
            "vs stable (points)",
            "decision",
        )
        lines += ["", table((*headers, "reason"), rows)]
    return "\n".join(lines)
