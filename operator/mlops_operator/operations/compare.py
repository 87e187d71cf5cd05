"""Two versions of a model side by side: metrics with their difference, changed
hyperparameters. Pure: the CLI prints what this returns, the REST API serialises it."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator.api.model_version import ModelVersion


@dataclass(frozen=True)
class MetricRow:
    name: str
    left: float | None
    right: float | None

    @property
    def delta(self) -> float | None:
        if self.left is None or self.right is None:
            return None
        return self.right - self.left


@dataclass(frozen=True)
class ParameterRow:
    name: str
    left: str | None
    right: str | None


@dataclass(frozen=True)
class Comparison:
    left: str
    right: str
    metrics: list[MetricRow]
    changed: list[ParameterRow]
    unchanged: int


def compare_versions(left: ModelVersion, right: ModelVersion) -> Comparison:
    names = sorted(set(left.spec.metrics) | set(right.spec.metrics))
    metrics = [MetricRow(n, left.spec.metrics.get(n), right.spec.metrics.get(n)) for n in names]
    keys = sorted(set(left.spec.hyperparameters) | set(right.spec.hyperparameters))
    changed = [
        ParameterRow(k, left.spec.hyperparameters.get(k), right.spec.hyperparameters.get(k))
        for k in keys
        if left.spec.hyperparameters.get(k) != right.spec.hyperparameters.get(k)
    ]
    return Comparison(
        left=left.spec.version,
        right=right.spec.version,
        metrics=metrics,
        changed=changed,
        unchanged=len(keys) - len(changed),
    )
