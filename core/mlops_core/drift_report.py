"""What a model server says about one served version's drift: ``GET /mlops/models/{name}/drift``.

The server writes it and the operator reads it from every server pod, so the shape is declared
once, here. Each pod scores its own window of recent inputs; ``samples`` per feature is the
window's length, which the operator needs to combine the pods' scores.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops_core.drift import DriftMethod
from mlops_core.wire import WireModel

FeatureKind = Literal["numeric", "categorical"]


class FeatureDriftScore(WireModel):
    """The score of one feature (null until the window holds enough values)."""

    name: str = Field(max_length=256)
    kind: FeatureKind
    score: float | None = Field(default=None, ge=0)
    samples: int = Field(ge=0, description="Values in this pod's window.")
    drifted: bool


class ModelDriftReport(WireModel):
    """One pod's drift report of one served version."""

    model: str
    version: str
    method: DriftMethod
    threshold: float = Field(gt=0)
    window_size: int = Field(ge=1)
    drift_detected: bool
    max_score: float | None = Field(default=None, ge=0)
    reference: str = Field(
        default="training",
        description="Which reference statistics: 'training' (the artifact's) or their URI.",
    )
    features: list[FeatureDriftScore] = Field(default_factory=list, max_length=4096)

    def to_json_dict(self) -> dict[str, object]:
        """The wire form with nulls kept (a feature without a score says so)."""
        return self.model_dump(mode="json", by_alias=True)
