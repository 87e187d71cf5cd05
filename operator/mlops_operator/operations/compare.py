"""Two versions of a model side by side: metrics with their difference, changed
hyperparameters. Pure: the CLI prints what this returns, the REST API serialises it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, computed_field
from pydantic.dataclasses import dataclass

from mlops_core.wire import WIRE_RESULT
from mlops_operator.api.model_version import ModelVersion


@dataclass(frozen=True, config=WIRE_RESULT)
class MetricRow:
    name: str
    left: float | None
    right: float | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delta(self) -> float | None:
        if self.left is None or self.right is None:
            return None
        return self.right - self.left


@dataclass(frozen=True, config=WIRE_RESULT)
class ParameterRow:
    name: str
    left: str | None
    right: str | None


@dataclass(frozen=True, config=WIRE_RESULT)
class Comparison:
    model: Annotated[str, Field(serialization_alias="modelId")]
    left: Annotated[str, Field(description="The left version.")]
    right: Annotated[str, Field(description="The right version.")]
    metrics: Annotated[
        list[MetricRow], Field(description="Every metric of either, with right - left.")
    ]
    changed: Annotated[list[ParameterRow], Field(serialization_alias="changedHyperparameters")]
    unchanged: Annotated[int, Field(serialization_alias="unchangedHyperparameters")]


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
        model=left.spec.model,
        left=left.spec.version,
        right=right.spec.version,
        metrics=metrics,
        changed=changed,
        unchanged=len(keys) - len(changed),
    )
