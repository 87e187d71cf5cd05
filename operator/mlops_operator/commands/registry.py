"""``mlops models``, ``mlops versions``, ``mlops promote`` and ``mlops compare``: the registry
operations (``operations/registry.py``) printed for the terminal."""

from __future__ import annotations

from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.commands.compare import render_comparison
from mlops_operator.commands.output import number, table
from mlops_operator.operations import registry
from mlops_operator.operations.errors import OperationError
from mlops_operator.operations.target import Target

#: the names commands have always imported from here
CommandError = OperationError
__all__ = ["CommandError", "Target", "cmd_compare", "cmd_models", "cmd_promote", "cmd_versions"]


def cmd_models(target: Target, *, all_namespaces: bool) -> str:
    models = registry.list_models(target, all_namespaces=all_namespaces)
    if not models:
        where = "any namespace" if all_namespaces else f"namespace {target.namespace}"
        return f"no models in {where}"
    headers = ["name", "task", "production", "staging", "latest", "versions"]
    if all_namespaces:
        headers.insert(0, "namespace")
    rows = []
    for m in models:
        row: list[object] = [
            m.metadata.name,
            m.spec.task,
            m.status.production_version,
            ",".join(m.status.staging_versions),
            m.status.latest_version,
            m.status.version_count,
        ]
        if all_namespaces:
            row.insert(0, m.metadata.namespace)
        rows.append(row)
    return table(headers, rows)


def cmd_versions(target: Target, model: str) -> str:
    versions = registry.model_versions(target, model)
    if not versions:
        return f"model {model!r} has no versions in namespace {target.namespace}"
    metric_names = sorted({n for mv in versions for n in mv.spec.metrics})[:3]
    rows = []
    for mv in versions:
        ready = find_condition(mv.status.conditions, READY)
        rows.append(
            [
                mv.spec.version,
                mv.spec.stage,
                ready.status if ready else "Unknown",
                mv.spec.lineage.training_job or "-",
                *(number(mv.spec.metrics.get(n)) for n in metric_names),
                mv.metadata.name,
            ]
        )
    return table(["version", "stage", "ready", "trainingjob", *metric_names, "name"], rows)


def cmd_promote(target: Target, model: str, version: str, stage: str, *, wait: float) -> str:
    done = registry.promote(target, model, version, stage, wait=wait)
    if not done.changed:
        return f"{model} {version} is already in {done.stage}"
    lines = [f"{model} {t.version}: {t.old} → {t.new}" for t in done.transitions]
    if len(lines) > 1:
        lines[1:] = [f"{line} (by the Model's registry policy)" for line in lines[1:]]
    if wait > 0:
        if done.model_status is None:
            lines.append(
                f"the operator has not updated Model {model} within {wait:.0f}s; is it running?"
            )
        else:
            lines.append(f"Model {model}: production {done.model_status.production_version or '-'}")
    return "\n".join(lines)


def cmd_compare(target: Target, model: str, left: str, right: str) -> str:
    return render_comparison(registry.compare(target, model, left, right))
